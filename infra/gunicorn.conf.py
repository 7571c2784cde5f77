"""Gunicorn settings shared by every service's web process. The bind address is in
infra/Procfile: BIND_HOST, 127.0.0.1 in local mode unless told otherwise, 0.0.0.0 in compose.

One worker process with threads: requests mostly wait on Redis, a second process would hold
another copy of the app (about 57 MiB) and its own Redis pool and metrics flusher, and a
service scales by replicas (compose, Kubernetes). `GUNICORN_WORKERS` / `GUNICORN_THREADS`
change that. No recycling of workers (`max_requests`): with one worker, each recycle would
stall requests while the new one imports the app, and `make soak` shows the web workers flat.
This file reads its three variables itself, not through shared.settings: the master process
never imports the app, and pydantic would add 19 MiB to each of them.
Access lines are left to the services' JSON logs; errors go to stdout like every other log
line, so docker and supervisord collect them.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
# Several web processes share one host in local mode and would fight over the default
# control socket in $HOME; nothing here uses gunicornc.
control_socket_disable = True
