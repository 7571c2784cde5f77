#!/bin/sh
# CLUSTER=1's one-shot step before the shop starts (service rabbitmq-cluster): every quorum queue
# and the event-log stream get a replica on each of the three nodes, then it checks they have.
#
# Why it is needed: a quorum queue or a stream is placed on the nodes in the cluster when it is
# declared, and a node imports the shop's definitions as it boots; rabbitmq-1 boots alone first,
# so what it declares starts with one member. Queues declared later (a service's own, loyalty's)
# start on all three. RabbitMQ 4.x could grow them by itself (continuous membership
# reconciliation); 3.10, the offline image, cannot. `grow` and `add_replica` do it on both.
set -eu

# The CLI tools authenticate to the nodes with the cluster's Erlang cookie, read from $HOME.
cookie="$HOME/.erlang.cookie"
rm -f "$cookie"
(umask 277 && printf %s "$ERLANG_COOKIE" >"$cookie")

NODES="rabbit@rabbitmq-1 rabbit@rabbitmq-2 rabbit@rabbitmq-3"
STREAM=shop.events.log

for node in $NODES; do
  rabbitmqctl -q -n "$node" await_online_nodes 3 --timeout 120
done
for node in $NODES; do
  echo "quorum queues: a replica on $node"
  rabbitmq-queues -q -n "$node" grow "$node" all
done

# The members of each replicated queue, one line per queue: name, type, members.
members() {
  rabbitmqctl -q -n rabbit@rabbitmq-1 list_queues name type members --no-table-headers
}

for node in $NODES; do
  if ! members | grep -F "$STREAM" | grep -qF "$node"; then
    echo "event log: a replica on $node"
    rabbitmq-streams -q -n rabbit@rabbitmq-1 add_replica "$STREAM" "$node"
  fi
done

replicated=$(members | awk '$2 == "quorum" || $2 == "stream"')
for node in $NODES; do
  missing=$(printf '%s\n' "$replicated" | grep -vF "$node" || true)
  if [ -n "$missing" ]; then
    echo "not on $node: $missing" >&2
    exit 1
  fi
done
echo "every quorum queue and the event log have a replica on each of: $NODES"

