"""Jaeger, Prometheus and Grafana of docker-compose.yml, checked without running them: offline
only Prometheus runs (tests/compose/test_5_observability.py), so Jaeger's pipelines and
Grafana's dashboard are checked here against what the services and RabbitMQ export."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.images.build import IMAGES
from infra.stack import CLUSTER_NODES, WEB_KINDS, procfile
from shared.metrics import PROCESS_REGISTRY
from tests.static.conftest import ROOT, tool

OBSERVABILITY = ROOT / "infra" / "observability"
JAEGER_CONFIG = OBSERVABILITY / "jaeger.yaml"
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus.yml"
GRAFANA = OBSERVABILITY / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
# The profile that keeps the services without a stand-in from starting offline.
UPSTREAM_ONLY = "upstream-images-only"

# What the dashboard reads from rabbitmq_prometheus' /metrics/detailed (queue_coarse_metrics,
# queue_consumer_count); the compose test finds them in what Prometheus scraped from RabbitMQ.
RABBITMQ_METRICS = {"rabbitmq_detailed_queue_messages", "rabbitmq_detailed_queue_consumers"}
# PromQL's words that look like metric names.
PROMQL_KEYWORDS = {
    *("and", "or", "unless", "bool", "offset"),
    *("by", "without", "on", "ignoring", "group_left", "group_right"),
}


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def shop_metric_names() -> set[str]:
    """Every sample name the services' processes export (shared/metrics.py)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {metric.name + suffix for metric in PROCESS_REGISTRY.collect() for suffix in suffixes[metric.type]}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: its identifiers once strings, label
    matchers, ranges and grouping clauses are gone, less functions and keywords."""
    bare = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    names = re.findall(r"(?<![\w.:])([A-Za-z_:][\w:]*)\s*(\(?)", bare)  # not a duration's unit
    return {name for name, call in names if not call and name not in PROMQL_KEYWORDS}


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))]


def dashboard_targets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (panel["title"], target)
        for board in dashboards()
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def dashboard_metric_names() -> set[str]:
    return {name for _title, target in dashboard_targets() for name in metric_names(target["expr"])}


def mount(service: dict[str, Any], source: Path) -> dict[str, Any]:
    return next(m for m in service["volumes"] if m.get("source") == str(source))


# --- Jaeger -----------------------------------------------------------------------------


def test_jaeger_pipelines_use_only_defined_components_and_every_defined_one_is_used():
    config = load_yaml(JAEGER_CONFIG)
    service = config["service"]
    assert set(service["extensions"]) == set(config["extensions"])
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for name, pipeline in service["pipelines"].items():
        assert name.split("/")[0] == "traces", f"{name}: Jaeger keeps traces only"
        assert pipeline["receivers"] and pipeline["exporters"], name
        for kind in used:
            used[kind] |= set(pipeline.get(kind, []))
    for kind, names in used.items():
        assert names == set(config[kind]), f"{kind}: defined {set(config[kind])}, used {names}"


def test_jaeger_stores_where_it_queries_and_listens_on_the_ports_compose_publishes(compose_config):
    config = load_yaml(JAEGER_CONFIG)
    backends = set(config["extensions"]["jaeger_storage"]["backends"])
    assert config["exporters"]["jaeger_storage_exporter"]["trace_storage"] in backends
    assert config["extensions"]["jaeger_query"]["storage"]["traces"] in backends
    otlp = config["receivers"]["otlp"]["protocols"]
    listening = {
        otlp["grpc"]["endpoint"],
        otlp["http"]["endpoint"],
        config["extensions"]["jaeger_query"]["http"]["endpoint"],
    }
    # every interface of the container: the collector's default, localhost, is unreachable
    assert listening == {"0.0.0.0:4317", "0.0.0.0:4318", "0.0.0.0:16686"}
    jaeger = compose_config["services"]["jaeger"]
    assert {int(port["target"]) for port in jaeger["ports"]} == {4317, 4318, 16686}
    assert all(port["host_ip"] == "127.0.0.1" for port in jaeger["ports"])
    config_file = mount(jaeger, JAEGER_CONFIG)
    assert config_file["read_only"] is True
    assert jaeger["command"] == ["--config", config_file["target"]]


# --- Prometheus -------------------------------------------------------------------------


def test_promtool_accepts_the_prometheus_config():
    promtool = tool("promtool", "prometheus (apt-get install prometheus: Debian's package has promtool)")
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_every_web_process_by_its_service_name_and_every_brokers_queues(compose_config):
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    services = compose_config["services"]
    web = [p for p in procfile().values() if not p.scalable and p.kind in WEB_KINDS]
    assert web, "the Procfile names no web process"
    for process in web:
        (sd,) = jobs[process.service]["dns_sd_configs"]
        assert sd["names"] == [process.name], process.service
        assert sd["port"] == int(services[process.name]["ports"][0]["target"]), process.name
        # scraped at <service name>:<port>, a Host the web process answers to (TRUSTED_HOSTS)
        (by_name,) = jobs[process.service]["relabel_configs"]
        assert by_name["target_label"] == "__address__"
        assert by_name["source_labels"] == ["__meta_dns_name", "__address__"]
        assert re.fullmatch(by_name["regex"], f"{process.name};172.18.0.5:{sd['port']}")
    rabbitmq = jobs["rabbitmq"]
    # the single broker, or the three nodes of CLUSTER=1
    (sd,) = rabbitmq["dns_sd_configs"]
    assert sd["names"] == ["rabbitmq", *CLUSTER_NODES]
    assert sd["port"] == 15692
    # per queue: the detailed endpoint with the queue families, not the aggregate /metrics
    assert rabbitmq["metrics_path"] == "/metrics/detailed"
    assert set(rabbitmq["params"]["family"]) == {"queue_coarse_metrics", "queue_consumer_count"}
    assert set(jobs) == {p.service for p in web} | {"rabbitmq"}


def test_rabbitmq_loads_the_prometheus_plugin():
    plugins = (ROOT / "infra" / "rabbitmq" / "enabled_plugins").read_text()
    assert "rabbitmq_prometheus" in re.findall(r"\w+", plugins)


def test_offline_prometheus_is_the_stand_in_with_the_same_flags_and_jaeger_and_grafana_stay_off(
    compose_config, offline_config
):
    online, offline = compose_config["services"], offline_config["services"]
    assert offline["prometheus"]["image"] in {image.image for image in IMAGES}
    assert offline["prometheus"]["pull_policy"] == "never"
    for key in ("command", "user", "volumes", "healthcheck", "ports"):
        assert offline["prometheus"][key] == online["prometheus"][key], key
    for name in ("jaeger", "grafana"):
        assert online[name].get("profiles") is None, f"{name} starts with `make run`"
        assert offline[name]["profiles"] == [UPSTREAM_ONLY], f"{name} has no offline stand-in"
    for name in ("jaeger", "prometheus", "grafana"):
        assert re.search(r":v?\d+\.\d+\.\d+$", online[name]["image"]), f"{name}: pin a version"


# --- Grafana ----------------------------------------------------------------------------


def test_grafana_provisions_prometheus_and_the_dashboards_folder(compose_config):
    (datasource,) = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yaml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = load_yaml(GRAFANA / "provisioning" / "dashboards" / "shop.yaml")["providers"]
    grafana = compose_config["services"]["grafana"]
    assert mount(grafana, DASHBOARDS)["target"] == provider["options"]["path"]
    assert mount(grafana, GRAFANA / "provisioning")["target"] == "/etc/grafana/provisioning"
    assert all(mount(grafana, path)["read_only"] for path in (DASHBOARDS, GRAFANA / "provisioning"))
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent.as_posix() == provider["options"]["path"]
    assert (DASHBOARDS / Path(home).name).exists()
    # anonymous visitors may look, never change
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_every_panel_and_query_reads_the_provisioned_datasource():
    (datasource,) = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yaml")["datasources"]
    expected = {"type": "prometheus", "uid": datasource["uid"]}
    assert dashboards(), "no dashboard to provision"
    for board in dashboards():
        for panel in board["panels"]:
            assert panel["datasource"] == expected, panel["title"]
            assert panel["targets"], f"{panel['title']}: no query"
            for target in panel["targets"]:
                assert target["datasource"] == expected, panel["title"]


def test_every_query_reads_metrics_the_services_or_rabbitmq_export():
    exported = shop_metric_names() | RABBITMQ_METRICS
    for title, target in dashboard_targets():
        names = metric_names(target["expr"])
        assert names, f"{title}: {target['expr']} selects no metric"
        assert names <= exported, f"{title}: {names - exported} is exported by nothing"


def test_the_dashboard_shows_outcomes_latencies_queues_retries_and_dead_letters():
    exprs = " ".join(target["expr"] for _title, target in dashboard_targets())
    assert 'type=~"order\\\\.(placed|confirmed|cancelled)"' in exprs  # orders/s by outcome
    for stage in ("confirmed", "emailed"):  # placed→stage percentiles
        assert f'shop_order_stage_seconds_bucket{{stage="{stage}"}}' in exprs
    assert {
        "rabbitmq_detailed_queue_messages",
        "rabbitmq_detailed_queue_consumers",
    } <= dashboard_metric_names()
    assert 'shop_tasks_total{outcome="transient_failure"}' in exprs  # retries
    assert 'outcome="dead_lettered"' in exprs and ".+\\\\.dlq" in exprs  # dead letters


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{stage="x"}[$__rate_interval]))', {"a_bucket"}),
        ("b / on (queue) group_left c", {"b", "c"}),
        ('histogram_quantile(0.5, d{q=~"or|and"}) or e offset 5m', {"d", "e"}),
    ],
)
def test_metric_names_finds_the_selected_metrics_only(expr, names):
    assert metric_names(expr) == names
