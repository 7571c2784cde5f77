"""ANTI-PATTERN, kept apart on purpose: the same shop wired with synchronous HTTP calls.

orders → POST payments/charge → POST notifications/send, all inside the customer's
request. It exists only so `make demo-failure` can show, from a real run, what the
event-driven design avoids: when payments is down, this orders service fails its
customers and loses their orders. Do not build on it.
"""
