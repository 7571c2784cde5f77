"""Orders: takes orders over HTTP and follows each one to its end through events.

The API stores an order and its `order.placed` event in one Redis transaction (the
outbox); the relay publishes the outbox with confirms; the consumer turns payment
outcomes into CONFIRMED / CANCELLED and writes their events through the same outbox.
"""
