"""The bench's log-line count: by process type, only what was written in the window, across a
rotation."""

from __future__ import annotations

from pathlib import Path

from bench.traffic import LogLines


def write(path: Path, lines: int) -> None:
    with path.open("a") as log:
        log.writelines(f"line {n}\n" for n in range(lines))


def test_counts_the_lines_written_in_the_window_by_process_type(tmp_path: Path):
    write(tmp_path / "orders-api.log", 5)
    write(tmp_path / "payments-worker-0.log", 2)
    meter = LogLines(tmp_path)

    meter.start()
    write(tmp_path / "orders-api.log", 3)
    write(tmp_path / "payments-worker-0.log", 4)
    write(tmp_path / "payments-worker-1.log", 1)  # an instance started in the window

    assert meter.stop() == {"orders-api": 3, "payments-worker": 5}


def test_a_log_rotated_in_the_window_is_read_on_in_its_backup(tmp_path: Path):
    log = tmp_path / "notifications-worker-0.log"
    write(log, 10)
    write(tmp_path / "notifications-worker-0.log.1", 7)  # an older rotation
    meter = LogLines(tmp_path)

    meter.start()
    write(log, 4)
    log.replace(tmp_path / "notifications-worker-0.log.1")  # what supervisord does at 10 MB
    write(log, 6)

    assert meter.stop() == {"notifications-worker": 10}
