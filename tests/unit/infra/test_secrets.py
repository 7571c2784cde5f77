"""infra.secrets: .env is made once with random values, completed later, never changed."""

from __future__ import annotations

import re
import stat

from infra import secrets


def test_a_missing_file_is_created_private_with_a_distinct_random_value_for_every_name(tmp_path):
    path = tmp_path / ".env"
    assert secrets.ensure(path) == list(secrets.NAMES)
    values = secrets.read(path)
    assert set(values) == set(secrets.NAMES)
    assert len(set(values.values())) == len(values)
    assert all(len(value) == 32 and re.fullmatch(r"[\w-]+", value, re.ASCII) for value in values.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_file_keeps_its_values_and_gets_only_the_names_it_lacks_or_leaves_empty(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# mine\nORDERS_AMQP_PASSWORD=kept\nPAYMENTS_AMQP_PASSWORD=\nLOG_LEVEL=DEBUG")
    written = secrets.ensure(path)
    values = secrets.read(path)
    assert "ORDERS_AMQP_PASSWORD" not in written and values["ORDERS_AMQP_PASSWORD"] == "kept"
    assert "PAYMENTS_AMQP_PASSWORD" in written and values["PAYMENTS_AMQP_PASSWORD"]
    assert path.read_text().count("PAYMENTS_AMQP_PASSWORD=") == 1
    assert path.read_text().startswith("# mine\n") and values["LOG_LEVEL"] == "DEBUG"
    assert secrets.ensure(path) == []
    assert secrets.read(path) == values


def test_the_environment_overrides_the_file_as_in_compose(tmp_path):
    path = tmp_path / "secrets.env"
    secrets.ensure(path)
    environ = {"ENV_FILE": str(path), "OPERATOR_TOKEN": "from-the-shell"}
    assert secrets.env_file(environ) == path
    assert secrets.environment(environ)["OPERATOR_TOKEN"] == "from-the-shell"
    from_file = secrets.read(path)["ORDERS_REDIS_PASSWORD"]
    assert secrets.environment(environ)["ORDERS_REDIS_PASSWORD"] == from_file
    assert secrets.env_file({}) == secrets.ROOT / ".env"
