"""The Kubernetes deployment files, checked against the code that will read them.

No cluster and no Docker here. What can be checked without them is checked with the real
readers: the run launcher config that Dagster's Helm chart renders from deploy/helm/values.yaml
goes through dagster-k8s' own schema (`K8sRunLauncher.config_type()`) and then through
`K8sRunLauncher.launch_run` with a mocked Kubernetes API, which builds the run pod's Job with
the Kubernetes client's models (an unknown key anywhere in it is an error); the rendered
instance config goes through dagster's instance loader; the code location's arguments through
`dagster api grpc`'s own parser; deploy/k8s/*.yaml through the Kubernetes client's models; the
environment variable names against the pydantic settings (and the few names the code reads
directly); the probe paths against the FastAPI app's routes; the Dockerfile against
pyproject.toml and the manifests (packages copied, user id, paths).

The chart itself is not run (no helm here): `render_*` below transcribe what its templates do
with the values we set (helm/dagster/templates/helpers/instance/*.tpl and
charts/dagster-user-deployments/templates/deployment-user.yaml of dagster's repository), and
reject any key those templates do not know, as the chart's values schema would.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import dagster_k8s.launcher
import kubernetes.client as k8s
import pytest
import yaml
from dagster._cli.api import grpc_command
from dagster._config import process_config
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.instance.config import dagster_instance_config
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.test_utils import create_run_for_test, instance_for_test
from dagster_k8s import K8sRunLauncher
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from dagster_postgres import PostgresRunStorage
from dagster_postgres.utils import get_conn_string
from pydantic import AliasChoices
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

from pressrag.serving.settings import ServingSettings

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "deploy" / "helm" / "values.yaml"
SERVING = REPO / "deploy" / "k8s" / "serving.yaml"
CONFIG_MAP = REPO / "deploy" / "k8s" / "config.yaml"
SECRETS = REPO / "deploy" / "k8s" / "secrets.example.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PACKAGES = ("assets", "resources", "orchestration", "serving")

RELEASE = "pressrag"  # docs/operations.md: `helm upgrade --install pressrag …`
NAMESPACE = "pressrag"
IMAGE = "registry.example.com/pressrag:0.1.0"
PYTHON = "/opt/venv/bin/python"  # sys.executable of the code server in the image


class ChartValueError(AssertionError):
    """A value the chart's templates would not render as meant (or its schema would refuse)."""


def load_values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def only_keys(where: str, given: Mapping[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ChartValueError(f"{where}: the chart has no value {unknown}")


# --------------------------------------------------------------------------- rendering
# What the chart's instance templates make of our values (the keys we may set, and how).

CHART_DAGSTER_HOME = "/opt/dagster/dagster_home"  # global.dagsterHome's default

# runLauncher.config.k8sRunLauncher → K8sRunLauncher config (_run-launcher.tpl)
LAUNCHER_AS_IS = {
    "imagePullPolicy": "image_pull_policy",
    "jobNamespace": "job_namespace",
    "loadInclusterConfig": "load_incluster_config",
    "kubeconfigFile": "kubeconfig_file",
    "envVars": "env_vars",
    "volumeMounts": "volume_mounts",
    "volumes": "volumes",
    "labels": "labels",
    "resources": "resources",
    "schedulerName": "scheduler_name",
    "securityContext": "security_context",
}
LAUNCHER_NAME_LISTS = {"envConfigMaps": "env_config_maps", "envSecrets": "env_secrets"}
RUN_K8S_CONFIG = {
    "containerConfig": "container_config",
    "podSpecConfig": "pod_spec_config",
    "podTemplateSpecMetadata": "pod_template_spec_metadata",
    "jobSpecConfig": "job_spec_config",
    "jobMetadata": "job_metadata",
}
LAUNCHER_CHART_DEFAULTS = {"imagePullPolicy": "Always", "loadInclusterConfig": True}


def render_run_launcher(values: Mapping[str, Any]) -> dict[str, Any]:
    run_launcher = values["runLauncher"]
    if run_launcher.get("type") != "K8sRunLauncher":
        raise ChartValueError(f"runLauncher.type is {run_launcher.get('type')!r}")
    given = run_launcher["config"]["k8sRunLauncher"]
    known = {*LAUNCHER_AS_IS, *LAUNCHER_NAME_LISTS, "image", "failPodOnRunFailure", "runK8sConfig"}
    only_keys("runLauncher.config.k8sRunLauncher", given, known)
    chart = {**LAUNCHER_CHART_DEFAULTS, **given}
    config: dict[str, Any] = {
        "service_account_name": f"{RELEASE}-dagster",
        "instance_config_map": f"{RELEASE}-dagster-instance",
        "dagster_home": values.get("global", {}).get("dagsterHome", CHART_DAGSTER_HOME),
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "job_namespace": chart.get("jobNamespace") or NAMESPACE,
    }
    for key, field in LAUNCHER_AS_IS.items():
        if chart.get(key) not in (None, "", [], {}):
            config[field] = chart[key]
    for key, field in LAUNCHER_NAME_LISTS.items():
        names = [entry["name"] for entry in chart.get(key) or [] if "name" in entry]
        if names:
            config[field] = names
    if "image" in chart:
        config["job_image"] = f"{chart['image']['repository']}:{chart['image']['tag']}"
    if chart.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    if chart.get("runK8sConfig"):
        only_keys("runK8sConfig", chart["runK8sConfig"], RUN_K8S_CONFIG)
        config["run_k8s_config"] = {
            RUN_K8S_CONFIG[key]: value for key, value in chart["runK8sConfig"].items() if value
        }
    return config


QUEUED_RUN_COORDINATOR = {
    "maxConcurrentRuns": "max_concurrent_runs",
    "tagConcurrencyLimits": "tag_concurrency_limits",
    "dequeueIntervalSeconds": "dequeue_interval_seconds",
    "dequeueUseThreads": "dequeue_use_threads",
    "dequeueNumWorkers": "dequeue_num_workers",
}
RUN_MONITORING = {
    "enabled": "enabled",
    "startTimeoutSeconds": "start_timeout_seconds",
    "cancelTimeoutSeconds": "cancel_timeout_seconds",
    "maxResumeRunAttempts": "max_resume_run_attempts",
    "pollIntervalSeconds": "poll_interval_seconds",
    "freeSlotsAfterRunEndSeconds": "free_slots_after_run_end_seconds",
}
RUN_RETRIES = {
    "enabled": "enabled",
    "maxRetries": "max_retries",
    "retryOnAssetOrOpFailure": "retry_on_asset_or_op_failure",
}
SENSORS = {  # the chart's Sensors schema
    "useThreads": "use_threads",
    "numWorkers": "num_workers",
    "numSubmitWorkers": "num_submit_workers",
}
POOLS = {
    "defaultLimit": "default_limit",
    "granularity": "granularity",
    "opGranularityRunBuffer": "op_granularity_run_buffer",
}
RUNS = {
    "maxConcurrentRuns": "max_concurrent_runs",
    "tagConcurrencyLimits": "tag_concurrency_limits",
}
POSTGRESQL = {
    "enabled",
    "image",
    "postgresqlHost",
    "postgresqlUsername",
    "postgresqlPassword",
    "postgresqlDatabase",
    "postgresqlParams",
    "postgresqlScheme",
    "service",
}


def _renamed(where: str, given: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    only_keys(where, given, names)
    return {names[key]: value for key, value in given.items() if value not in (None, [])}


def render_postgres_db(values: Mapping[str, Any]) -> dict[str, Any]:
    """_postgresql.tpl: the same `postgres_db` block for run, event-log and schedule storage."""
    pg = values["postgresql"]
    only_keys("postgresql", pg, POSTGRESQL)
    if pg.get("enabled", True):
        raise ChartValueError("postgresql.enabled: the chart would deploy its own PostgreSQL")
    config = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
    }
    if pg.get("postgresqlScheme"):
        config["scheme"] = pg["postgresqlScheme"]
    return config


def render_instance(values: Mapping[str, Any]) -> dict[str, Any]:
    """configmap-instance.yaml, for the sections we set."""
    storage = {"postgres_db": render_postgres_db(values)}
    instance: dict[str, Any] = {
        "run_launcher": {
            "module": "dagster_k8s",
            "class": "K8sRunLauncher",
            "config": render_run_launcher(values),
        },
        "scheduler": {"module": "dagster.core.scheduler", "class": "DagsterDaemonScheduler"},
        **{
            name: {"module": f"dagster_postgres.{module}", "class": cls, "config": storage}
            for name, module, cls in (
                ("run_storage", "run_storage", "PostgresRunStorage"),
                ("event_log_storage", "event_log", "PostgresEventLogStorage"),
                ("schedule_storage", "schedule_storage", "PostgresScheduleStorage"),
            )
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    daemon = values["dagsterDaemon"]
    if not daemon.get("enabled"):
        raise ChartValueError("dagsterDaemon.enabled: no daemon, no run queue nor monitoring")
    coordinator = daemon["runCoordinator"]
    if not coordinator.get("enabled") or coordinator.get("type") != "QueuedRunCoordinator":
        raise ChartValueError("dagsterDaemon.runCoordinator: the QueuedRunCoordinator, enabled")
    queued = coordinator["config"]["queuedRunCoordinator"]
    instance["run_coordinator"] = {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": _renamed("queuedRunCoordinator", queued, QUEUED_RUN_COORDINATOR),
    }
    if daemon["runMonitoring"].get("enabled"):
        instance["run_monitoring"] = _renamed(
            "runMonitoring", daemon["runMonitoring"], RUN_MONITORING
        )
    if daemon["runRetries"].get("enabled"):
        instance["run_retries"] = _renamed("runRetries", daemon["runRetries"], RUN_RETRIES)
    instance["sensors"] = _renamed("sensors", daemon["sensors"], SENSORS)
    concurrency = values.get("concurrency") or {}
    only_keys("concurrency", concurrency, {"enabled", "pools", "runs"})
    if concurrency.get("enabled"):
        instance["concurrency"] = {
            "pools": _renamed("concurrency.pools", concurrency.get("pools") or {}, POOLS),
            "runs": _renamed("concurrency.runs", concurrency.get("runs") or {}, RUNS),
        }
    return instance


USER_DEPLOYMENT = {  # the chart's UserDeployment schema
    "name",
    "image",
    "dagsterApiGrpcArgs",
    "codeServerArgs",
    "includeConfigInLaunchedRuns",
    "deploymentNamespace",
    "port",
    "replicaCount",
    "env",
    "envConfigMaps",
    "envSecrets",
    "annotations",
    "nodeSelector",
    "affinity",
    "tolerations",
    "podSecurityContext",
    "securityContext",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "labels",
    "volumeMounts",
    "volumes",
    "schedulerName",
}


def the_user_deployment(values: Mapping[str, Any]) -> dict[str, Any]:
    subchart = values["dagster-user-deployments"]
    if not (subchart.get("enabled") and subchart.get("enableSubchart")):
        raise ChartValueError("dagster-user-deployments: enabled and enableSubchart")
    (deployment,) = subchart["deployments"]
    only_keys(f"deployments[{deployment.get('name')}]", deployment, USER_DEPLOYMENT)
    return deployment


def render_code_server_pod(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """deployment-user.yaml: the pod of the code location (camelCase, as Kubernetes reads it)."""
    image = deployment["image"]
    container = {
        "name": "dagster-user-deployments",
        "image": f"{image['repository']}:{image['tag']}",
        "imagePullPolicy": image["pullPolicy"],
        "args": code_server_args(deployment),
        "env": [{"name": "DAGSTER_CURRENT_IMAGE", "value": f"{image['repository']}:{image['tag']}"}]
        + (deployment["env"] if isinstance(deployment.get("env"), list) else []),
        "envFrom": [{"configMapRef": ref} for ref in deployment.get("envConfigMaps") or []]
        + [{"secretRef": ref} for ref in deployment.get("envSecrets") or []],
        "securityContext": deployment.get("securityContext") or {},
        "resources": deployment.get("resources") or {},
        "volumeMounts": deployment.get("volumeMounts") or [],
    }
    return {
        "securityContext": deployment.get("podSecurityContext") or {},
        "containers": [container],
        "volumes": deployment.get("volumes") or [],
    }


def code_server_args(deployment: Mapping[str, Any]) -> list[str]:
    if not deployment.get("dagsterApiGrpcArgs"):
        raise ChartValueError("dagsterApiGrpcArgs: the code location runs `dagster api grpc`")
    port = str(deployment["port"])
    return [
        "dagster",
        "api",
        "grpc",
        "-h",
        "0.0.0.0",
        "-p",
        port,
        *deployment["dagsterApiGrpcArgs"],
    ]


# --------------------------------------------------------------------------- shared facts


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def dockerfile_env() -> dict[str, str]:
    """ENV of the final stage."""
    stages: list[dict[str, str]] = []
    for word, rest in dockerfile_instructions():
        if word == "FROM":
            stages.append({})
        elif word == "ENV":
            stages[-1].update(item.split("=", 1) for item in shlex.split(rest))
    return stages[-1]


def image_uid() -> int:
    users = [rest for word, rest in dockerfile_instructions() if word == "USER"]
    assert users, "the image must not run as root: no USER in the Dockerfile"
    return int(users[-1].split(":")[0])


def packaged_folders() -> tuple[str, ...]:
    """The folders setup.py installs as `pressrag.*` (its `FOLDERS` literal)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FOLDERS":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no FOLDERS")


def settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings class of ours (resources/settings.py, serving/settings.py, …):
    the modules that mention BaseSettings or subclass a settings class, imported."""
    classes: list[type[BaseSettings]] = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if not re.search(r"BaseSettings|\(\w*Settings\)", path.read_text(encoding="utf-8")):
                continue
            module_name = ".".join(("pressrag", *path.relative_to(REPO).with_suffix("").parts))
            module = importlib.import_module(module_name)
            classes += [
                value
                for value in vars(module).values()
                if isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value.__module__ == module_name
            ]
    return classes


def settings_env_names() -> set[str]:
    """The environment variables the settings objects read (pydantic-settings, any case)."""
    names = set()
    for model in settings_classes():
        prefix = model.model_config.get("env_prefix", "")
        for name, field in model.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
            elif isinstance(alias, str):
                names.add(alias.upper())
            else:
                names.add(f"{prefix}{name}".upper())
    return names


_DIRECT_READ = re.compile(r"""os\.(?:environ(?:\.get)?|getenv)\s*[\[(]\s*["']([A-Z0-9_]+)["']""")


def directly_read_env_names() -> set[str]:
    """Names our code reads with os.environ / os.getenv itself (cron, sensor interval, …)."""
    names = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            names |= set(_DIRECT_READ.findall(path.read_text(encoding="utf-8")))
    return names


# Not ours, set on purpose: Hugging Face / transformers offline, Hugging Face's and Dagster's
# telemetry off, uvicorn's trusted proxies.
THIRD_PARTY_ENV = {
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "DO_NOT_TRACK",
    "DAGSTER_DISABLE_TELEMETRY",
    "DAGSTER_HOME",
    "FORWARDED_ALLOW_IPS",
    "PATH",
    "PYTHONUNBUFFERED",
}


def unknown_env_names(names: Iterable[str]) -> list[str]:
    known = settings_env_names() | directly_read_env_names() | THIRD_PARTY_ENV
    return sorted(
        name for name in names if name not in known and not name.startswith("PRESSRAG_SECRET_")
    )


def serving_deployment() -> dict[str, Any]:
    (deployment,) = [d for d in load_documents(SERVING) if d["kind"] == "Deployment"]
    return deployment


def secret_example(name: str) -> dict[str, Any]:
    (secret,) = [
        d
        for d in load_documents(SECRETS)
        if d["kind"] == "Secret" and d["metadata"]["name"] == name
    ]
    return secret


def site_keys_mount(volume_mounts: Iterable[Mapping[str, Any]], volumes) -> str:
    """Where the pressrag-site-keys Secret is mounted."""
    by_name = {v["name"]: v for v in volumes}
    for mount in volume_mounts:
        secret = by_name[mount["name"]].get("secret") or {}
        if secret.get("secretName") == "pressrag-site-keys":
            return mount["mountPath"]
    raise AssertionError("the site keys Secret is not mounted")


# --------------------------------------------------------------------------- run launcher


def validated_launcher_config() -> dict[str, Any]:
    result = process_config(K8sRunLauncher.config_type(), render_run_launcher(load_values()))
    assert result.success, [error.message for error in result.errors or []]
    return dict(result.value)


def test_run_launcher_config_passes_dagster_k8s_schema() -> None:
    config = validated_launcher_config()
    assert config["env_secrets"] == ["pressrag-env"]
    assert config["env_config_maps"] == ["pressrag-config"]
    assert config["fail_pod_on_run_failure"] is True


def test_a_misspelt_launcher_key_is_refused() -> None:
    values = load_values()
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher["envSecret"] = launcher.pop("envSecrets")
    with pytest.raises(ChartValueError, match="envSecret"):
        render_run_launcher(values)
    # …and dagster-k8s refuses a misspelt field of its own config.
    config = render_run_launcher(load_values())
    config["env_secret"] = config.pop("env_secrets")
    assert not process_config(K8sRunLauncher.config_type(), config).success


def launched_job(config: Mapping[str, Any]) -> k8s.V1Job:
    """The Job K8sRunLauncher creates for a run of `index_site`: the real `launch_run`, with the
    cluster's API mocked (nothing leaves this process)."""
    batch_api = mock.MagicMock()
    with mock.patch.object(dagster_k8s.launcher, "load_kubernetes_config"):
        launcher = K8sRunLauncher(
            **config, k8s_client_batch_api=batch_api, k8s_client_core_api=mock.MagicMock()
        )
    module = code_server_args(the_user_deployment(load_values()))[-1]
    origin = JobPythonOrigin(
        "index_site",
        RepositoryPythonOrigin(
            executable_path=PYTHON,
            code_pointer=ModuleCodePointer(module, "defs", None),
            container_image=IMAGE,  # what the code server reports (DAGSTER_CURRENT_IMAGE)
        ),
    )
    with instance_for_test() as instance:
        launcher.register_instance(instance)
        run = create_run_for_test(instance, job_name="index_site", job_code_origin=origin)
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    (call,) = batch_api.create_namespaced_job.call_args_list
    assert call.kwargs["namespace"] == NAMESPACE
    return call.kwargs["body"]


def test_a_run_pod_has_the_image_the_secrets_and_the_limits() -> None:
    job = launched_job(validated_launcher_config())
    pod = job.spec.template.spec
    (container,) = pod.containers
    assert container.image == IMAGE
    # The code server's interpreter: the image's virtualenv (Dockerfile PATH).
    assert container.args[:5] == [PYTHON, "-m", "dagster", "api", "execute_run"]
    assert dockerfile_env()["PATH"].startswith(str(Path(PYTHON).parent) + ":")
    env_from = {(e.secret_ref or e.config_map_ref).name for e in container.env_from}
    assert {"pressrag-env", "pressrag-config"} <= env_from
    env = {e.name: e.value for e in container.env}
    assert env["DAGSTER_HOME"] == dockerfile_env()["DAGSTER_HOME"]
    assert unknown_env_names(env.keys() - {"DAGSTER_RUN_JOB_NAME", "DAGSTER_PG_PASSWORD"}) == []
    mounts = {m.mount_path: m for m in container.volume_mounts}
    keys_dir = f"{dockerfile_env()['PRESSRAG_HOME']}/secrets"
    assert mounts[keys_dir].read_only
    assert pod.security_context.run_as_non_root
    assert pod.security_context.run_as_user == image_uid()
    assert container.security_context.allow_privilege_escalation is False
    assert container.resources.requests["cpu"] and container.resources.limits["memory"]
    cpu = container.resources.requests["cpu"]
    assert env["PRESSRAG_INDEX_TORCH_THREADS"] == cpu, "embedding threads = CPU request"
    assert env["PRESSRAG_INDEX_PROCESSES"] == cpu, "text and chunking workers = CPU request"


def test_a_misspelt_kubernetes_field_in_run_pods_fails_at_launch() -> None:
    config = validated_launcher_config()
    pod_security = config["run_k8s_config"]["pod_spec_config"]["securityContext"]
    pod_security["runAsNonRot"] = pod_security.pop("runAsNonRoot")
    with pytest.raises(Exception, match="runAsNonRot"):
        launched_job(config)


# --------------------------------------------------------------------------- instance


def test_the_instance_config_loads(tmp_path: Path) -> None:
    """dagster's own loader, as the daemon and webserver read the chart's dagster.yaml: the
    schema, and the rule that run limits are not set in two places."""
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(render_instance(load_values())))
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_monitoring"]["enabled"] is True


def test_run_limits_in_the_run_coordinator_too_are_refused(tmp_path: Path) -> None:
    values = load_values()
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    queued["maxConcurrentRuns"] = 4
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(render_instance(values)))
    with pytest.raises(Exception, match="max_concurrent_runs"):
        dagster_instance_config(str(tmp_path))


def test_dagster_storage_config_and_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "secret")  # the chart sets it from the Secret
    postgres_db = render_postgres_db(load_values())
    result = process_config(PostgresRunStorage.config_type(), {"postgres_db": postgres_db})
    assert result.success, [error.message for error in result.errors or []]
    url = get_conn_string(
        **{k: v for k, v in postgres_db.items() if k != "password"}, password="secret"
    )
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; dagster-postgres needs psycopg2.
    assert make_url(url).get_dialect().driver == "psycopg2"


def test_concurrency_and_monitoring_mirror_dagster_yaml() -> None:
    local = yaml.safe_load((REPO / "dagster.yaml").read_text())
    instance = render_instance(load_values())
    assert instance["concurrency"] == local["concurrency"]
    assert instance["run_retries"] == local["run_retries"]
    assert instance["sensors"] == local["sensors"]
    assert (
        instance["run_coordinator"]["config"]["dequeue_interval_seconds"]
        == local["run_queue"]["dequeue_interval_seconds"]
    )
    k8s_monitoring = dict(instance["run_monitoring"])
    local_monitoring = dict(local["run_monitoring"])
    # A pod may first pull the image: a longer start timeout, never a shorter one.
    assert k8s_monitoring.pop("start_timeout_seconds") >= local_monitoring.pop(
        "start_timeout_seconds"
    )
    assert k8s_monitoring == local_monitoring


def test_a_misspelt_monitoring_key_is_refused() -> None:
    values = load_values()
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    monitoring["pollIntervalSecond"] = monitoring.pop("pollIntervalSeconds")
    with pytest.raises(ChartValueError, match="pollIntervalSecond"):
        render_instance(values)


# --------------------------------------------------------------------------- code location


def test_code_location_arguments_and_module() -> None:
    deployment = the_user_deployment(load_values())
    args = code_server_args(deployment)
    # `dagster api grpc`'s own parser (a misspelt option is an error here).
    params = grpc_command.make_context("grpc", args[3:]).params
    assert params["port"] == deployment["port"]
    module = params["module_name"]
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert module == workspace["load_from"][0]["python_module"]["module_name"]
    assert importlib.util.find_spec(module) is not None
    assert f"-m {module}" in DOCKERFILE.read_text(), "the Dockerfile's header names the module"


def test_code_location_pod_is_valid_kubernetes_and_uses_the_secrets() -> None:
    deployment = the_user_deployment(load_values())
    pod = render_code_server_pod(deployment)
    k8s_model_from_dict(k8s.V1PodSpec, k8s_snake_case_dict(k8s.V1PodSpec, pod))
    assert [ref["name"] for ref in deployment["envSecrets"]] == ["pressrag-env"]
    assert [ref["name"] for ref in deployment["envConfigMaps"]] == ["pressrag-config"]
    assert deployment["podSecurityContext"]["runAsUser"] == image_uid()
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True
    keys_dir = site_keys_mount(deployment["volumeMounts"], deployment["volumes"])
    assert keys_dir == f"{dockerfile_env()['PRESSRAG_HOME']}/secrets"
    names = [e["name"] for e in pod["containers"][0]["env"]]
    assert unknown_env_names(set(names) - {"DAGSTER_CURRENT_IMAGE"}) == []


# --------------------------------------------------------------------------- serving


def test_serving_manifests_are_valid_kubernetes() -> None:
    models = {
        "Deployment": k8s.V1Deployment,
        "Service": k8s.V1Service,
        "PodDisruptionBudget": k8s.V1PodDisruptionBudget,
        "ConfigMap": k8s.V1ConfigMap,
        "Secret": k8s.V1Secret,
    }
    documents = [*load_documents(SERVING), *load_documents(CONFIG_MAP), *load_documents(SECRETS)]
    for document in documents:
        model = models[document["kind"]]
        k8s_model_from_dict(model, k8s_snake_case_dict(model, document))
    assert {d["kind"] for d in load_documents(SERVING)} == {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }


def test_serving_probes_answer_as_kubernetes_needs() -> None:
    """The probe paths against the app itself, before start-up (no database, no model): the
    liveness path answers 200 (a pod is not restarted while PostgreSQL is down), the readiness
    path 503 (the pod stays out of the Service until it can answer)."""
    from fastapi.testclient import TestClient

    from pressrag.serving.app import create_app

    # Not entered as a context manager: no lifespan, so nothing is opened.
    client = TestClient(create_app(ServingSettings(_env_file=None, ready_wait_seconds=0)))
    deployment = serving_deployment()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expected = {"startupProbe": 200, "livenessProbe": 200, "readinessProbe": 503}
    for probe, status in expected.items():
        get = container[probe]["httpGet"]
        assert client.get(get["path"]).status_code == status, f"{probe} {get['path']}"
        assert get["port"] in ports or get["port"] in ports.values()
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["PRESSRAG_PORT"]) == ports["http"]
    assert env["PRESSRAG_HOST"] == "0.0.0.0"
    (service,) = [d for d in load_documents(SERVING) if d["kind"] == "Service"]
    assert service["spec"]["ports"][0]["targetPort"] in ports
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_serving_replicas_resources_and_security() -> None:
    deployment = serving_deployment()
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][kind].keys()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid() != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    # A read-only root: PRESSRAG_HOME and /tmp must be volumes.
    assert {dockerfile_env()["PRESSRAG_HOME"], "/tmp"} <= mounts
    keys_dir = site_keys_mount(container["volumeMounts"], pod["volumes"])
    assert keys_dir == f"{dockerfile_env()['PRESSRAG_HOME']}/secrets"


def test_every_process_reads_the_same_secret_and_config() -> None:
    (container,) = serving_deployment()["spec"]["template"]["spec"]["containers"]
    serving = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    launcher = validated_launcher_config()
    code_location = the_user_deployment(load_values())
    assert serving == {*launcher["env_secrets"], *launcher["env_config_maps"]}
    assert serving == {ref["name"] for ref in code_location["envSecrets"]} | {
        ref["name"] for ref in code_location["envConfigMaps"]
    }


def test_environment_names_are_read_by_the_code() -> None:
    (container,) = serving_deployment()["spec"]["template"]["spec"]["containers"]
    (config_map,) = load_documents(CONFIG_MAP)
    app_env = secret_example("pressrag-env")["stringData"]
    launcher_env = [item.split("=", 1)[0] for item in validated_launcher_config()["env_vars"]]
    names = [
        *(e["name"] for e in container["env"]),
        *config_map["data"],
        *app_env,
        *launcher_env,
        *dockerfile_env(),
    ]
    assert unknown_env_names(names) == []
    # Without a database URL every process would start an embedded PostgreSQL of its own.
    assert {"DATABASE_URL", "PRESSRAG_DATABASE_URL"} & app_env.keys()
    assert "postgresql-password" in secret_example("dagster-postgresql-secret")["stringData"]


def test_a_misspelt_environment_name_is_reported() -> None:
    assert unknown_env_names(["PRESSRAG_ADMIN_API_KEY", "PRESSRAG_ADMN_API_KEY"]) == [
        "PRESSRAG_ADMN_API_KEY"
    ]
    assert unknown_env_names(["PRESSRAG_RECONCILE_CRON", "DATABASE_URL", "HF_HUB_OFLINE"]) == [
        "HF_HUB_OFLINE"
    ]


# --------------------------------------------------------------------------- image


def test_dockerfile_installs_every_package_non_editable() -> None:
    instructions = dockerfile_instructions()
    assert not [rest for word, rest in instructions if word == "ENTRYPOINT"], (
        "the chart and the run launcher pass whole commands as args: no ENTRYPOINT"
    )
    (base,) = {
        rest.split("=", 1)[1]
        for word, rest in instructions
        if word == "ARG" and "=" in rest and rest.startswith("PYTHON_IMAGE")
    }
    assert base == "python:3.11-slim"
    installs = [rest for word, rest in instructions if word == "RUN" and "pip install" in rest]
    assert installs and not any(" -e " in run or "--editable" in run for run in installs)
    packages = set(packaged_folders())
    copied = {
        name
        for word, rest in instructions
        if word == "COPY" and "--from" not in rest
        for name in rest.split()[:-1]
    }
    # dagster.yaml: orchestration/dagster.yaml, the packaged instance template, links to it.
    needed = {*packages, "setup.py", "dagster.yaml"}
    assert needed <= copied, f"not copied into the image: {needed - copied}"
    allowed = {
        line.strip().lstrip("!").rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip().startswith("!")
    }
    assert {*needed, "pyproject.toml", "constraints.txt", "README.md"} <= allowed


def test_image_runs_as_the_manifests_user_with_the_model_baked_in() -> None:
    env = dockerfile_env()
    assert image_uid() != 0
    exports = [rest for word, rest in dockerfile_instructions() if "minilm_onnx" in rest]
    assert exports and f"--cache-dir {env['PRESSRAG_MODEL_CACHE_DIR']}" in exports[0]
    assert env["HF_HUB_OFFLINE"] == "1"
