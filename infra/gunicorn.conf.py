"""Gunicorn settings shared by every service's web process. The bind address is in
infra/Procfile: BIND_HOST, 127.0.0.1 in local mode unless told otherwise, 0.0.0.0 in compose.

Threads rather than more processes: requests mostly wait on Redis, and each worker process
holds its own Redis pool and metrics flusher. Access lines are left to the services' JSON
logs; errors go to stdout like every other log line, so docker and supervisord collect them.
"""

from shared.settings import ShopSettings

settings = ShopSettings()
worker_class = "gthread"
workers = settings.gunicorn_workers
threads = settings.gunicorn_threads
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = settings.log_level.lower()
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500
# Several web processes share one host in local mode and would fight over the default
# control socket in $HOME; nothing here uses gunicornc.
control_socket_disable = True
