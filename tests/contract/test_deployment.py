"""The deployment files render, validate offline and say what an operator relies on.

- `deploy/k8s/overlays/*` are rendered with the pinned kustomize (scripts/provision-kustomize;
  when it cannot be had, the session fixture FAILS the run rather than skipping). Core kinds are
  validated with kubernetes-validate for Kubernetes `K8S_VERSION` in strict mode (unknown fields
  are errors); `KafkaTopic` against the vendored Strimzi 1.2.0 CRD schema, made strict the same way.
- `docker-compose.yml` validates against the vendored compose-spec schema.
- Vendored schemas are byte-identical to the hashes in deploy/schemas/README.md.
- Beyond schemas, what users rely on: every service has api + worker Deployments with probes,
  resources and a locked-down security context, an HPA on the API, PDBs, a migration Job and its
  Secrets referenced (never shipped); every topic of docs/events.md and its `.dlt` is a KafkaTopic
  with 3 partitions, replication 3 and min ISR 2; the container commands exist in the `gongyi` CLI;
  the configuration the manifests and the compose file give a process is accepted by the services'
  production settings; the compose database layout is the one the tests provision.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from typer.testing import CliRunner

from gongyi.devinfra.kafka import KAFKA_VERSION
from gongyi.system import SERVICES, service_module, service_settings
from shared.bus.kafka import RETENTION_MS
from shared.pii import generate_secret

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = ROOT / "deploy" / "schemas"
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROVISION_KUSTOMIZE = ROOT / "scripts" / "provision-kustomize"

KUSTOMIZE_VERSION = "v5.8.2"
# The Kubernetes release the manifests are validated for (kubernetes-validate ships its schemas).
K8S_VERSION = "1.35.0"
OVERLAYS = ("dev", "prod")
STRIMZI_API = "kafka.strimzi.io/v1"
THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000
PORT = 8000


# -- rendering -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kustomize() -> Path:
    """The pinned kustomize binary, provisioned on first use. Never skips: no kustomize fails the run."""
    try:
        done = subprocess.run(
            ["bash", str(PROVISION_KUSTOMIZE)], capture_output=True, text=True, timeout=900, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"scripts/provision-kustomize could not run: {exc}")
    if done.returncode != 0:
        pytest.fail(f"scripts/provision-kustomize failed ({done.returncode}):\n{done.stderr[-3000:]}")
    binary = Path(done.stdout.strip().splitlines()[-1])
    if not os.access(binary, os.X_OK):
        pytest.fail(f"scripts/provision-kustomize printed {binary}, which is not an executable")
    return binary


@pytest.fixture(scope="session")
def rendered(kustomize: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for overlay in OVERLAYS:
        done = subprocess.run(
            [str(kustomize), "build", str(K8S / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"kustomize build overlays/{overlay} failed:\n{done.stderr}"
        out[overlay] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return out


def _of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: one container expected"
    return containers[0]


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def test_kustomize_is_the_pinned_version(kustomize: Path) -> None:
    version = subprocess.run([str(kustomize), "version"], capture_output=True, text=True, check=True).stdout.strip()
    assert version == KUSTOMIZE_VERSION
    script = PROVISION_KUSTOMIZE.read_text()
    assert f"version=${{KUSTOMIZE_VERSION:-{KUSTOMIZE_VERSION}}}" in script


def test_every_overlay_includes_every_service_and_the_topics() -> None:
    for overlay in OVERLAYS:
        config = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
        resources = set(config["resources"])
        wanted = {f"../../base/{svc}" for svc in SERVICES} | {"../../base/kafka-topics", "../../base/common"}
        assert wanted <= resources, f"overlays/{overlay} misses {sorted(wanted - resources)}"


# -- schema validation -----------------------------------------------------------------------------


def _vendored_hashes() -> dict[str, str]:
    table = (SCHEMAS / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", table, flags=re.MULTILINE)
    return dict(rows)


def test_vendored_schemas_are_the_upstream_copies() -> None:
    hashes = _vendored_hashes()
    assert set(hashes) == {"compose-spec/compose-spec.json", "strimzi/043-Crd-kafkatopic.yaml"}
    for name, digest in hashes.items():
        assert hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest() == digest, (
            f"{name} differs from its README row"
        )


def test_kubernetes_validate_ships_the_pinned_release() -> None:
    # kubernetes-validate falls back to an older release's schemas silently: insist on this one.
    assert K8S_VERSION in kv_utils.all_versions()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_kinds_validate_strictly(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    errors: list[str] = []
    for doc in rendered[overlay]:
        if doc["apiVersion"] == STRIMZI_API:
            continue
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            used = kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name}: no Kubernetes {K8S_VERSION} schema for {doc['apiVersion']} {doc['kind']}")
            continue
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{name}: {exc.message} at {'/'.join(map(str, exc.path))}")
            continue
        assert used == kv_utils.major_minor(K8S_VERSION)
    assert not errors, "\n".join(errors)


def _strict(schema: Any) -> Any:
    """A CRD's structural schema as the API server applies it with strict field validation:
    fields not declared are errors, except under `x-kubernetes-preserve-unknown-fields`."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def _kafkatopic_validator() -> jsonschema.protocols.Validator:
    crd = yaml.safe_load((SCHEMAS / "strimzi" / "043-Crd-kafkatopic.yaml").read_text())
    assert crd["spec"]["group"] == "kafka.strimzi.io" and crd["spec"]["names"]["kind"] == "KafkaTopic"
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == STRIMZI_API.split("/")[1]]
    assert version["served"] and version["storage"]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_validate_against_the_strimzi_crd(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    topics = [d for d in rendered[overlay] if d["kind"] == "KafkaTopic"]
    assert topics
    validator = _kafkatopic_validator()
    for doc in topics:
        name = doc["metadata"]["name"]
        assert doc["apiVersion"] == STRIMZI_API
        assert len(name) <= 253 and _DNS_SUBDOMAIN.match(name), f"{name} is not a valid resource name"
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, f"KafkaTopic {name}: {errors}"


@functools.cache
def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def test_compose_file_validates_against_the_compose_spec() -> None:
    schema = yaml.safe_load((SCHEMAS / "compose-spec" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(_compose())
    ]
    assert not errors, "\n".join(errors)


# -- Kubernetes: what an operator relies on --------------------------------------------------------


def _documented_topics() -> list[str]:
    text = (ROOT / "docs" / "events.md").read_text()
    return re.findall(r"^## `([a-z]+\.[a-z_]+)`", text, flags=re.MULTILINE)


def test_docs_name_every_topic_the_services_use() -> None:
    documented = set(_documented_topics())
    assert len(documented) >= 9
    used: set[str] = set()
    for svc in SERVICES:
        used |= set(importlib.import_module(f"services.{svc}.events").PUBLISHES)
        used |= set(getattr(importlib.import_module(f"services.{svc}.consumers"), "CONSUMES", ()))
    assert used <= documented, f"topics used but not in docs/events.md: {sorted(used - documented)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_and_its_dlt_is_a_kafka_topic(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered[overlay]
    topics = _of_kind(docs, "KafkaTopic")
    wanted = {t for base in _documented_topics() for t in (base, f"{base}.dlt")}
    names = {d["spec"].get("topicName", name) for name, d in topics.items()}
    assert names == wanted, f"missing {sorted(wanted - names)}, unexpected {sorted(names - wanted)}"
    partitions = service_settings(SERVICES[0], env="test").topic_partitions
    clusters = set()
    for name, doc in topics.items():
        spec, config = doc["spec"], doc["spec"]["config"]
        assert spec["partitions"] == partitions, name  # the producers' partitioner assumes this count
        assert spec["replicas"] == 3, name
        assert int(config["min.insync.replicas"]) == 2, name
        assert config["cleanup.policy"] == "delete", name
        assert int(config["retention.ms"]) >= THIRTY_DAYS_MS, name
        assert int(config["retention.ms"]) == RETENTION_MS, f"{name}: same retention as `gongyi topics ensure`"
        assert config["unclean.leader.election.enable"] in (False, "false"), name
        clusters.add(doc["metadata"]["labels"]["strimzi.io/cluster"])
    assert len(clusters) == 1
    (common,) = [cm for name, cm in _of_kind(docs, "ConfigMap").items() if name.startswith("gongyi-common")]
    # Strimzi names the bootstrap Service of cluster C `C-kafka-bootstrap`.
    assert common["data"]["GONGYI_KAFKA_BOOTSTRAP"].startswith(f"{clusters.pop()}-kafka-bootstrap:")
    assert common["data"]["GONGYI_TOPIC_REPLICATION"] == "3"
    assert common["data"]["GONGYI_TOPIC_MIN_INSYNC"] == "2"


def _check_container(workload: dict[str, Any], svc: str) -> None:
    name = workload["metadata"]["name"]
    pod = workload["spec"]["template"]["spec"]
    container = _container(workload)
    assert container["image"].startswith("gongyi:") or "/gongyi:" in container["image"], name
    resources = container.get("resources", {})
    assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{name}: requests"
    assert "memory" in resources.get("limits", {}), f"{name}: memory limit"
    assert pod["securityContext"]["runAsNonRoot"] is True, name
    assert pod["securityContext"]["runAsUser"] != 0, name
    assert pod.get("automountServiceAccountToken") is False, name
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False, name
    assert security["readOnlyRootFilesystem"] is True, name
    assert security["capabilities"]["drop"] == ["ALL"], name
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", []) if "valueFrom" in e}
    assert refs == {f"gongyi-{svc}-secrets"}, f"{name}: its own Secret only, got {refs}"
    assert all(
        "value" not in e for e in container.get("env", []) if "SECRET" in e["name"] or "DATABASE_URL" in e["name"]
    )


def _check_probes(workload: dict[str, Any], svc: str) -> None:
    name = workload["metadata"]["name"]
    container = _container(workload)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports.get("http") == PORT, name
    assert container["args"][-2:] == ["--port", str(PORT)], name
    assert container["livenessProbe"]["httpGet"]["path"] == f"/{svc}/healthz", name
    assert container["readinessProbe"]["httpGet"]["path"] == f"/{svc}/readyz", name
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ("http", PORT), f"{name}: {probe}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_is_deployed_completely(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered[overlay]
    deployments, jobs = _of_kind(docs, "Deployment"), _of_kind(docs, "Job")
    hpas, pdbs, services = (
        _of_kind(docs, "HorizontalPodAutoscaler"),
        _of_kind(docs, "PodDisruptionBudget"),
        _of_kind(docs, "Service"),
    )
    config_maps, service_accounts = _of_kind(docs, "ConfigMap"), _of_kind(docs, "ServiceAccount")
    assert not [d for d in docs if d["kind"] == "Secret"], "secrets are referenced, never shipped"
    for svc in SERVICES:
        api, worker = deployments[f"gongyi-{svc}-api"], deployments[f"gongyi-{svc}-worker"]
        assert _container(api)["args"][:4] == ["serve", svc, "--role", "api"]
        assert _container(worker)["args"][:4] == ["serve", svc, "--role", "worker"]
        for workload in (api, worker):
            _check_container(workload, svc)
            _check_probes(workload, svc)
            pod = workload["spec"]["template"]
            assert _selects(workload["spec"]["selector"], pod["metadata"]["labels"])
            assert pod["spec"]["serviceAccountName"] in service_accounts
            for source in _container(workload)["envFrom"]:
                assert source["configMapRef"]["name"] in config_maps, f"{source} does not exist"
        # The HPA owns the API's replica count; the worker runs an active and a standby relay.
        assert "replicas" not in api["spec"]
        assert worker["spec"]["replicas"] == {"dev": 1, "prod": 2}[overlay]
        (hpa,) = [h for h in hpas.values() if h["spec"]["scaleTargetRef"]["name"] == api["metadata"]["name"]]
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        if overlay == "prod":
            assert hpa["spec"]["minReplicas"] >= 2
        for workload in (api, worker):
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert [p for p in pdbs.values() if _selects(p["spec"]["selector"], labels)], (
                f"no PDB for {workload['metadata']['name']}"
            )
        (service,) = [s for s in services.values() if s["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]]
        assert service["spec"]["ports"][0]["targetPort"] in ("http", PORT)
        job = jobs[f"gongyi-{svc}-migrate"]
        assert _container(job)["args"] == ["migrate", svc]
        assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
        _check_container(job, svc)


def _settings_fields(svc: str) -> set[str]:
    return set(service_module(svc).Settings.model_fields)


def _assert_known_settings(env: Mapping[str, str], svc: str | None) -> None:
    """Settings ignore unknown variables: a misspelt one would silently do nothing."""
    services = [svc] if svc else list(SERVICES)
    for var in env:
        if not var.startswith("GONGYI_"):
            continue
        rest = var.removeprefix("GONGYI_").lower()
        known = any(
            rest in _settings_fields(s)
            or (rest.startswith(f"{s}_") and rest.removeprefix(f"{s}_") in _settings_fields(s))
            for s in services
        )
        assert known, f"{var} is not a setting of {'/'.join(services)}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for var in list(os.environ):
        if var.startswith("GONGYI_"):
            monkeypatch.delenv(var)
    yield monkeypatch


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_configure_processes_that_production_accepts(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, clean_env: pytest.MonkeyPatch
) -> None:
    docs = rendered[overlay]
    config_maps = _of_kind(docs, "ConfigMap")
    fake_secrets = {
        "database-url": "postgresql://gongyi_{svc}:pw@postgres:5432/gongyi",
        "secret-key": generate_secret(),
    }
    for svc in SERVICES:
        workloads = [
            d for d in docs if d["kind"] in ("Deployment", "Job") and d["metadata"]["name"].startswith(f"gongyi-{svc}-")
        ]
        assert len(workloads) == 3
        for workload in workloads:
            container = _container(workload)
            env: dict[str, str] = {}
            for source in container.get("envFrom", []):
                env.update(config_maps[source["configMapRef"]["name"]]["data"])
            for item in container.get("env", []):
                if "value" in item:
                    env[item["name"]] = item["value"]
                else:
                    env[item["name"]] = fake_secrets[item["valueFrom"]["secretKeyRef"]["key"]].format(svc=svc)
            _assert_known_settings(env, svc)
            with clean_env.context() as patch:
                for var, value in env.items():
                    patch.setenv(var, value)
                settings = service_settings(svc)  # production validation: raises when misconfigured
            assert settings.env == "production" and settings.bus == "kafka"
            assert settings.database_url and settings.database_url.startswith("postgresql://")
            assert (settings.topic_replication, settings.topic_min_insync) == (3, 2)


def _cli_accepts(args: list[str]) -> None:
    from gongyi.cli import app

    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"`gongyi {shlex.join(args)}` is not a valid command:\n{result.output}"
    if args[:1] == ["serve"]:
        assert args[1] in SERVICES, f"`gongyi {shlex.join(args)}`: unknown service {args[1]!r}"
        assert args[args.index("--role") + 1] in ("api", "worker"), f"`gongyi {shlex.join(args)}`: unknown role"
    if args[:1] == ["migrate"]:
        assert set(args[1:]) <= set(SERVICES), f"`gongyi {shlex.join(args)}`: unknown service"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_container_commands_exist_in_the_cli(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for doc in rendered[overlay]:
        if doc["kind"] in ("Deployment", "Job"):
            container = _container(doc)
            assert "command" not in container, "the image's entrypoint is `gongyi`"
            _cli_accepts(container["args"])


# -- docker compose --------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        missing = current is None or (op is not None and op.startswith(":") and current == "")
        if op and op.endswith("?") and missing:
            raise LookupError(f"{name}: {arg}")
        if op and op.endswith("-") and missing:
            return arg
        return current or ""

    return _INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def _dotenv(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\n", "\n")
        values[key.strip()] = value
    return values


def _container_env(service: Mapping[str, Any], dotenv: Mapping[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for var, value in (service.get("environment") or {}).items():
        if value is None:  # passed through from the shell / .env, unset when they do not set it
            if var in dotenv:
                env[var] = dotenv[var]
        else:
            env[var] = str(value)
    return env


def _gongyi_services() -> dict[str, dict[str, Any]]:
    compose = _compose()
    image = compose["services"]["registry-api"]["image"]
    return {name: s for name, s in compose["services"].items() if s.get("image") == image}


def test_compose_runs_every_service_with_the_tested_kafka() -> None:
    services = _compose()["services"]
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["postgres"]["image"].split(":")[0] == "postgres"
    assert services["postgres"]["image"].split(":")[1].split(".")[0] == "15"
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert services["jaeger"]["image"].startswith("jaegertracing/")
    for name, service in services.items():
        if "${" in service["image"]:
            continue  # the project's own image, built from ./Dockerfile
        tag = service["image"].rpartition(":")[2] if ":" in service["image"] else ""
        assert tag not in ("", "latest"), f"{name}: pin the image tag"
    assert services["topics"]["command"] == ["topics", "ensure"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for svc in SERVICES:
        migrate, api, worker = services[f"{svc}-migrate"], services[f"{svc}-api"], services[f"{svc}-worker"]
        assert migrate["command"] == ["migrate", svc]
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert api["command"][:4] == ["serve", svc, "--role", "api"]
        assert worker["command"][:4] == ["serve", svc, "--role", "worker"]
        for process in (api, worker):
            assert process["depends_on"][f"{svc}-migrate"]["condition"] == "service_completed_successfully"
            assert f"/{svc}/readyz" in " ".join(process["healthcheck"]["test"])
            assert process["environment"]["GONGYI_OTLP_ENDPOINT"].startswith("http://otel-collector:")
        assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    for name in ("postgres", "kafka"):
        assert services[name]["healthcheck"]["test"]
    for service in _gongyi_services().values():
        _cli_accepts(service["command"])


def test_compose_image_is_the_dockerfile() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", dockerfile, flags=re.MULTILINE)
    assert "pip install -c constraints.txt ." in dockerfile
    assert 'ENTRYPOINT ["gongyi"]' in dockerfile
    (user,) = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert user.split(":")[0] not in ("0", "root")
    assert "tzdata" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for needed in ("pyproject.toml", "constraints.txt", "gongyi/", "shared/", "services/"):
        assert f"!{needed}" in ignored, f".dockerignore must let {needed} into the build context"
    for service in _gongyi_services().values():
        assert service["build"]["context"] == "."


def test_compose_refuses_to_start_on_the_unfilled_example() -> None:
    example = _dotenv((ROOT / ".env.example").read_text())
    with pytest.raises(LookupError, match=r"GONGYI_SECRET_KEY|POSTGRES_PASSWORD|GONGYI_JWT_ISSUER|DB_PASSWORD"):
        _interpolate(_compose(), example)
    # every variable the compose file reads is documented in .env.example
    text = (ROOT / ".env.example").read_text()
    referenced = {m["name"] for m in _INTERPOLATION.finditer(COMPOSE_FILE.read_text())}
    passed_through = {
        v for s in _compose()["services"].values() for v, x in (s.get("environment") or {}).items() if x is None
    }
    for var in referenced | passed_through:
        assert re.search(rf"^#? ?{var}=", text, flags=re.MULTILINE), f"{var} is not documented in .env.example"


def _local_idp() -> Any:
    sys.path.insert(0, str(ROOT / "deploy" / "compose"))
    try:
        return importlib.import_module("local_idp")
    finally:
        sys.path.pop(0)


async def test_compose_configures_processes_that_production_accepts(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    from shared.runtime import build_verifier

    idp = _local_idp()
    key = idp.signing_key(tmp_path / "signing-key.pem")
    dotenv = _dotenv(idp.env_file(key))
    compose = _interpolate(_compose(), dotenv)
    args = idp.argparse.Namespace(
        role="officer",
        sub=None,
        region="440111",
        org_id=None,
        agency_id=None,
        agency_admin=False,
        email=None,
        hours=1,
        issuer=dotenv["GONGYI_JWT_ISSUER"],
    )
    token = idp.token(key, args)
    for name in _gongyi_services():
        env = _container_env(compose["services"][name], dotenv)
        svc = name.split("-")[0] if name != "topics" else None
        _assert_known_settings(env, svc)
        with clean_env.context() as patch:
            for var, value in env.items():
                patch.setenv(var, value)
            for each in [svc] if svc else SERVICES:
                settings = service_settings(each)  # raises on a refused production configuration
                assert settings.env == "production" and settings.bus == "kafka"
                if svc:
                    assert (
                        settings.database_url
                        == compose["services"][name]["environment"][f"GONGYI_{svc.upper()}_DATABASE_URL"]
                    )
                    principal = await build_verifier(settings).verify(token)
                    assert principal.sub == "compose-officer"


def _statements(sql: str) -> set[str]:
    return {" ".join(s.split()) for s in sql.replace('"', "").split(";") if s.strip()}


def test_compose_database_layout_is_the_tested_one() -> None:
    from gongyi.devinfra.postgres import _layout_sql, service_role

    script = (ROOT / "deploy" / "compose" / "postgres-init.sh").read_text()
    sql = script.split("<<'SQL'", 1)[1].rsplit("\nSQL", 1)[0]
    expected = _layout_sql("DBNAME", {svc: service_role(svc) for svc in SERVICES}).replace('"DBNAME"', ':"db"')
    missing = _statements(expected) - _statements(sql)
    assert not missing, f"postgres-init.sh lacks: {sorted(missing)}"
    for svc in SERVICES:
        assert f"ALTER ROLE gongyi_{svc} SET search_path = {svc}, public" in sql


@pytest.mark.postgres
def test_compose_init_script_isolates_the_services(tmp_path: Path) -> None:
    """Run postgres-init.sh as the image would, on a private cluster: each role sees only its schema."""
    import asyncio

    import asyncpg

    from gongyi.devinfra.postgres import LocalPostgres, server_bindir

    cluster = LocalPostgres(tmp_path / "pg")
    cluster.start()
    try:
        passwords = {svc: f"pw-{svc}-{generate_secret()[:8]}" for svc in SERVICES}
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PG", "GONGYI_"))},
            "PATH": f"{server_bindir()}:{os.environ['PATH']}",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(cluster.port),
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": "gongyi",
            **{f"GONGYI_{svc.upper()}_DB_PASSWORD": pw for svc, pw in passwords.items()},
        }
        subprocess.run(
            ["psql", "-U", "postgres", "-d", "postgres", "-c", "CREATE DATABASE gongyi"],
            env=env,
            check=True,
            capture_output=True,
        )
        done = subprocess.run(
            ["sh", str(ROOT / "deploy" / "compose" / "postgres-init.sh")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr

        async def probe() -> None:
            def dsn(svc: str) -> str:
                return f"postgresql://gongyi_{svc}:{passwords[svc]}@127.0.0.1:{cluster.port}/gongyi"

            registry = await asyncpg.connect(dsn("registry"))
            try:
                await registry.execute("CREATE TABLE organizations (id int)")  # lands in its own schema
                assert await registry.fetchval("select similarity('abc', 'abd') > 0")  # pg_trgm
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await registry.execute("CREATE TABLE public.leak (id int)")
            finally:
                await registry.close()
            grants = await asyncpg.connect(dsn("grants"))
            try:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await grants.fetch("SELECT * FROM registry.organizations")
                await grants.execute("CREATE TABLE awards (id int)")
                assert await grants.fetchval("select current_schema()") == "grants"
            finally:
                await grants.close()

        asyncio.run(probe())
    finally:
        cluster.stop()


def test_no_secret_values_in_the_repository_files() -> None:
    example = _dotenv((ROOT / ".env.example").read_text())
    for var in ("GONGYI_SECRET_KEY", "POSTGRES_PASSWORD", *(f"GONGYI_{s.upper()}_DB_PASSWORD" for s in SERVICES)):
        assert example[var] == "", f".env.example must not carry a value for {var}"
    compose_env = copy.deepcopy(_compose()["x-gongyi-env"])
    assert compose_env["GONGYI_SECRET_KEY"].startswith("${GONGYI_SECRET_KEY:?")
