"""The shared building block every service stands on: the event bus and its plumbing.

Envelope and event contract, topology as data, a confirmed publisher, a consumer
runner, idempotency, stream replay, settings, metrics and the ops endpoints.
Services import from here and never from each other.
"""

from shared.wire import tolerate_out_of_range_timestamps

# before any process of the shop reads a message: a hostile header must not cost a connection
tolerate_out_of_range_timestamps()
