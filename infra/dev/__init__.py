"""Local process mode: the whole stack as local processes under supervisord (`make dev`).

config.py writes the supervisord configuration, stack.py drives a running supervisord,
logs.py follows the logs, __main__.py is the command line. One supervisord program per
Procfile line, grouped per service, so a service or a single
process type can be stopped and started on its own. Scalable process types (relay,
consumers, workers) are declared with MAX_REPLICAS instances of which only the wanted
number runs. Everything lives under RUN_DIR (default .run/): the generated config, the
supervisord socket and pid, one log file per process and the wanted replica counts.

    python -m infra.dev up | down | ps | logs [--once] | stop X | start X | scale X N

X is a service (`payments`: all its processes) or a process type (`payments-worker`).
The environment chooses the broker, Redis, vhost, Redis prefix and ports (AMQP_URL,
REDIS_URL, REDIS_PREFIX, *_PORT), which is how tests run a second stack beside yours.
"""
