"""infra.compose: which files each mode uses, and the one-line advice for a taken port."""

from __future__ import annotations

import socket

from infra import compose


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
