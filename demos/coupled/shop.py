"""The coupled variant as three gunicorn processes on free ports, for `make demo-failure`.

Not the shop's launcher (harness/launcher.py): these apps are not in infra/Procfile and
must never be, so the demo runs them itself and removes their keys afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import redis

from demos.common import ROOT, smtp_url, wait_for
from harness.probe import http_ok
from infra.ports import free_port


class CoupledShop:
    """The ANTI-PATTERN of demos/coupled: orders, payments and notifications calling each other."""

    APPS = ("orders", "payments", "notifications")

    def __init__(self, log_dir: Path) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.ports = {app: free_port() for app in self.APPS}
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_PREFIX": f"demo-{self.run_id}:",
            "COUPLED_PAYMENTS_URL": self.url("payments"),
            "COUPLED_NOTIFICATIONS_URL": self.url("notifications"),
            "SMTP_URL": smtp_url(),
        }

    def url(self, app: str) -> str:
        return f"http://127.0.0.1:{self.ports[app]}"

    def start(self, app: str) -> None:
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        command = [
            gunicorn,
            "--config",
            "infra/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{self.ports[app]}",
            f"demos.coupled.app:create_{app}_app()",
        ]
        log = open(self.log_dir / f"coupled-{app}.log", "ab")  # noqa: SIM115 (owned by the child)
        self.processes[app] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: http_ok(self.url(app) + "/readyz"), 30, f"coupled {app} to answer")

    def stop(self, app: str) -> None:
        process = self.processes.pop(app)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> CoupledShop:
        for app in reversed(self.APPS):
            self.start(app)
        return self

    def __exit__(self, *_: object) -> None:
        for app in list(self.processes):
            self.stop(app)
        client = redis.Redis.from_url(self.env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        keys = list(client.scan_iter(f"{self.env['REDIS_PREFIX']}*"))
        if keys:
            client.delete(*keys)
