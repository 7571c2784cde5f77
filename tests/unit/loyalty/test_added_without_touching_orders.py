"""The point of the subscriber demo: loyalty was added without changing orders.

Every commit that adds a file of services/loyalty/ must leave services/orders/ alone.
"""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout


def test_commits_adding_loyalty_change_nothing_in_orders() -> None:
    loyalty_commits = git("log", "--diff-filter=A", "--format=%H", "--", "services/loyalty").split()
    assert loyalty_commits, "no commit adds services/loyalty: is this a full clone?"
    for commit in loyalty_commits:
        touched = git("show", "--format=", "--name-only", commit).split()
        assert not [path for path in touched if path.startswith("services/orders/")], commit
