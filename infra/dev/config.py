"""The supervisord configuration of local mode, generated from infra/Procfile."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from infra.stack import ROOT, Process, local_infra, process_environment, shell_command

# Scalable process types are declared with this many instances, of which the wanted number runs.
MAX_REPLICAS = 8


def _quote_value(value: str) -> str:
    return '"' + value.replace("%", "%%").replace('"', '\\"') + '"'


def _program(process: Process, logs: Path, environ: Mapping[str, str], autorestart: bool) -> str:
    env = {
        "PATH": f"{Path(sys.executable).parent}:{environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "LOG_FORMAT": environ.get("LOG_FORMAT", "text"),
        **process_environment(process, local_infra(environ), environ),
    }
    command = shlex.join(shell_command(process)).replace("%", "%%")
    instance = "%(program_name)s-%(process_num)d" if process.scalable else "%(program_name)s"
    lines = [
        f"[program:{process.name}]",
        f"command={command}",
        f"process_name={instance}",
        f"numprocs={MAX_REPLICAS if process.scalable else 1}",
        f"directory={ROOT}",
        "environment=" + ",".join(f"{key}={_quote_value(value)}" for key, value in env.items()),
        "autostart=false",
        f"autorestart={str(autorestart).lower()}",
        # Without autorestart, no retry either: an exit in the first seconds is not a failed start.
        f"startsecs={2 if autorestart else 0}",
        "startretries=5",
        "stopsignal=TERM",
        "stopwaitsecs=30",
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={logs}/{instance}.log",
        "stdout_logfile_maxbytes=10MB",
        "stdout_logfile_backups=1",
    ]
    return "\n".join(lines)


def supervisord_config(
    processes: Iterable[Process], directory: Path, environ: Mapping[str, str], autorestart: bool = True
) -> str:
    """`autorestart`: `make dev` brings back a process that died; a test that kills one wants it
    to stay down until the test starts it again."""
    processes = list(processes)
    logs = directory / "logs"
    sections = [
        f"[unix_http_server]\nfile={directory}/supervisor.sock\nchmod=0700",
        "[supervisord]\n"
        f"logfile={logs}/supervisord.log\n"
        f"pidfile={directory}/supervisord.pid\n"
        f"childlogdir={logs}\n"
        f"directory={ROOT}\n"
        "nodaemon=false\nminfds=4096\nidentifier=shop-dev",
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        f"[supervisorctl]\nserverurl=unix://{directory}/supervisor.sock",
    ]
    sections += [_program(process, logs, environ, autorestart) for process in processes]
    services: dict[str, list[str]] = {}
    for process in processes:
        services.setdefault(process.service, []).append(process.name)
    sections += [f"[group:{service}]\nprograms={','.join(names)}" for service, names in services.items()]
    return "\n\n".join(sections) + "\n"
