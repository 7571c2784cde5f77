"""Schemathesis against every service's own `/openapi.json`, the web processes running as in
`make dev` (the Procfile commands, their own broker and Redis users, a sandbox of their own).

Generated requests, valid and invalid, with and without the operator token: no answer is a
server error, and every answer (status, content type, headers, body) is one the document
describes. Figures per run are printed (`-s` shows them) and the CLI's JSON reports are
kept in artifacts/schemathesis/<service>-<caller>.json.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.launcher import SandboxedStack, sandboxed_stack

pytestmark = pytest.mark.slow

OPERATOR_TOKEN = secrets.token_urlsafe(24)
WEB_PROCESSES = {
    "orders": "orders-api",
    "payments": "payments-api",
    "notifications": "notifications-api",
    "dashboard": "dashboard-web",
    "loyalty": "loyalty-api",
}
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
# Enough for every operation's coverage cases and some fuzzing, and the whole file in about
# a minute on the CI machine; `SCHEMATHESIS_EXAMPLES=500` digs deeper.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
REPORTS = (
    Path(os.environ.get("ARTIFACTS_DIR", Path(__file__).resolve().parents[2] / "artifacts")) / "schemathesis"
)


@pytest.fixture(scope="module")
def stack() -> Iterator[SandboxedStack]:
    with sandboxed_stack("openapi", OPERATOR_TOKEN=OPERATOR_TOKEN) as running:
        running.up(*WEB_PROCESSES.values())
        yield running


def schemathesis(stack: SandboxedStack, service: str, label: str, *extra: str) -> dict:
    """Run the CLI against a service's document; its JSON report, or a failure with its output."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = REPORTS / f"{service}-{label}.json"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{stack.url(service)}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "15",
        # one: Hypothesis parses lambdas' source, and CPython 3.11's parser is not thread-safe
        # ("SystemError: AST constructor recursion depth mismatch" with two workers)
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"schemathesis found failures in {service}:\n{result.stdout[-6000:]}"
    return json.loads(report.read_text())


@pytest.mark.parametrize("caller", ["operator", "anyone"])
@pytest.mark.parametrize("service", WEB_PROCESSES)
def test_every_answer_is_the_one_the_document_describes(
    stack: SandboxedStack, service: str, caller: str
) -> None:
    token = ("--header", f"Authorization: Bearer {OPERATOR_TOKEN}") if caller == "operator" else ()
    report = schemathesis(stack, service, caller, *token)

    cases = report["test_cases"]
    print(
        f"schemathesis {service} as {caller}: {report['operations']['tested']} operations, "
        f"{cases['generated']} cases, {len(report['failures'])} failures, {report['running_time']:.1f} s"
    )
    assert report["operations"]["tested"] == report["operations"]["total"]
    assert cases["with_failures"] == cases["errored"] == 0
