"""infra.compose: which files and secrets each mode uses, the one-line advice for a taken port or
missing secrets, and the Redis users it writes."""

from __future__ import annotations

import socket

from infra import compose, secrets


def test_offline_adds_the_stand_in_override_and_nothing_else_does():
    assert compose.files({}) == [compose.BASE_FILE]
    assert compose.files({"OFFLINE": "0"}) == [compose.BASE_FILE]
    assert compose.files({"OFFLINE": "1"}) == [compose.BASE_FILE, compose.OFFLINE_FILE]


def test_the_command_names_the_project_directory_and_every_file_before_the_arguments():
    command = compose.command("ps", "--all", environ={"OFFLINE": "1"})
    assert command[-2:] == ["ps", "--all"]
    assert command[command.index("--project-directory") + 1] == str(compose.ROOT)
    files = [command[i + 1] for i, arg in enumerate(command) if arg == "--file"]
    assert files == [str(compose.BASE_FILE), str(compose.OFFLINE_FILE)]


def test_a_taken_port_is_named_with_the_variable_that_moves_it_found_by_its_container_port():
    assert compose.port_variable(5672) == "RABBITMQ_PORT"
    assert compose.port_variable(8001) == "ORDERS_PORT"
    assert compose.port_variable(8025) == "SMTP_SINK_HTTP_PORT"


def test_a_port_something_listens_on_is_not_free():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not compose.port_is_free(listener.getsockname()[1])


def test_env_file_gives_compose_the_secrets_of_that_file_and_otherwise_it_reads_dot_env():
    command = compose.command("ps", environ={"ENV_FILE": "/tmp/x/.env"})
    assert command[command.index("--env-file") + 1] == "/tmp/x/.env"
    assert "--env-file" not in compose.command("ps", environ={})


def test_missing_secrets_are_one_line_saying_make_run(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("RABBITMQ_ADMIN_PASSWORD=\n")
    problem = compose.secrets_problem({"ENV_FILE": str(env_file)})
    assert problem.startswith(f"{env_file} lacks ") and "RABBITMQ_ADMIN_PASSWORD" in problem
    assert problem.endswith("`make run` creates them (python -m infra.secrets)")
    secrets.ensure(env_file)
    assert compose.secrets_problem({"ENV_FILE": str(env_file)}) is None


def test_redis_turns_the_default_user_off_and_knows_only_the_operator_and_one_user_per_service():
    values = {name: f"pw-{name}" for name in secrets.NAMES}
    lines = compose.redis_acl(values).splitlines()
    # off, yet allowed everything: Redis 7.0 replays the AOF's transactions as `default`
    assert lines[0] == "user default off ~* &* +@all"
    assert lines[1].startswith("user admin on #")
    assert "pw-REDIS_ADMIN_PASSWORD" not in lines[1], "the operator's password is stored hashed"
    assert [line.split()[1] for line in lines[2:]] == list(secrets.SERVICES)
    assert all(" ~" + line.split()[1] + ":*" in line for line in lines[2:])
