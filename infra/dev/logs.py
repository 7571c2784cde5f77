"""`make logs` in local mode: every process's log file, followed and prefixed by its name."""

from __future__ import annotations

import time
from pathlib import Path


def follow_logs(logs: Path, width: int, follow: bool = True, last_lines: int = 10) -> None:
    """Every process's log in `logs`, each line prefixed with the process name, as they grow."""
    offsets: dict[Path, int] = {}
    while True:
        for path in sorted(logs.glob("*.log")):
            if path.name.startswith("supervisord"):
                continue
            size = path.stat().st_size
            if path not in offsets:
                offsets[path] = _tail_offset(path, last_lines)
            if size < offsets[path]:  # rotated
                offsets[path] = 0
            if size > offsets[path]:
                with path.open("rb") as file:
                    file.seek(offsets[path])
                    chunk = file.read()
                complete = chunk.rfind(b"\n") + 1
                offsets[path] += complete
                for line in chunk[:complete].decode(errors="replace").splitlines():
                    print(f"{path.stem:<{width}}| {line}", flush=True)
        if not follow:
            return
        time.sleep(0.25)


def _tail_offset(path: Path, lines: int) -> int:
    data = path.read_bytes()
    cut = len(data)
    for _ in range(lines + 1):
        cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            return 0
    return cut + 1
