"""The image's HEALTHCHECK, for whichever process type the container runs.

A web process (gunicorn with --bind, PID 1 thanks to the `exec` of its command) must answer
/healthz; so must the SMTP sink's HTTP API (--http-port), which stands in for Mailpit
offline. Relays, consumers and workers open no port: they exit when they lose the broker,
and their restart policy brings them back, so a running container is a healthy one.
"""

from __future__ import annotations

import re
import sys
import urllib.request
from pathlib import Path


def bound_port(cmdline: str) -> int | None:
    match = re.search(r"--bind[ =]\S*:(\d+)|--http-port[ =](\d+)", cmdline)
    return int(match.group(1) or match.group(2)) if match else None


def main() -> int:
    cmdline = Path("/proc/1/cmdline").read_bytes().replace(b"\0", b" ").decode()
    port = bound_port(cmdline)
    if port is None:
        return 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"/healthz on port {port}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
