#!/bin/sh
# As the upstream image does: redis-server started without a config file listens to the
# other containers of its network (protected mode would refuse every one of them).
set -e
if [ "$1" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
