"""Render with values-dev.yaml (as the Ansible role does) and check the chart field by field."""

import typing
from pathlib import Path

import pytest
import yaml
from chart_render import CHART, EXISTING_SECRET, TAG, render, render_fails
from pydantic import SecretStr
from todo_api.core.config import Settings

REPO = Path(__file__).resolve().parents[2]

SELECTOR_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}
STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/component",
    "helm.sh/chart",
}
# The keys are the backend's Settings model's (their one owner): its SecretStr fields come from
# the Secret, every other field from the ConfigMap (the backend package is in the venv).
SETTINGS_FIELDS = Settings.model_fields


def _is_secret(name: str) -> bool:
    annotation = SETTINGS_FIELDS[name].annotation
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


BACKEND_CONFIG_KEYS = sorted(name.upper() for name in SETTINGS_FIELDS if not _is_secret(name))
# APP_DATABASE_URL is the migrator's, embedded PostgreSQL only (test_chart_secrets.py).
SECRET_KEYS = {name.upper() for name in SETTINGS_FIELDS if _is_secret(name)} - {"APP_DATABASE_URL"}
# Config keys whose chart default is the chart's own, not the backend's (each tested below):
# the environment, the cookie and the docs follow the deployment, the worker count the CPU
# limit, and the chart names its Ingress hop where the app alone trusts nobody.
CHART_OWN_DEFAULTS = {"ENVIRONMENT", "COOKIE_SECURE", "WEB_CONCURRENCY", "API_DOCS_ENABLED", "TRUSTED_PROXIES"}


def container(workload: dict, name: str | None = None) -> dict:
    containers = workload["spec"]["template"]["spec"]["containers"]
    if name is None:
        assert len(containers) == 1
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def env_map(c: dict) -> dict:
    return {e["name"]: e for e in c.get("env", [])}


def load_values(name: str) -> dict:
    return yaml.safe_load((CHART / name).read_text())


# --- names, workloads, services -------------------------------------------------------


def test_release_todo_gives_contract_names(dev):
    for kind in ("Deployment", "Service"):
        assert {d["metadata"]["name"] for d in dev.all(kind)} == {"todo-backend", "todo-frontend"}
    assert dev.has("ConfigMap", "todo")
    assert dev.has("Ingress", "todo")


def test_fullname_follows_helm_create_rule():
    other = render(release="demo", namespace="demo")
    assert {d["metadata"]["name"] for d in other.all("Deployment")} == {"demo-todo-backend", "demo-todo-frontend"}
    assert other.get("ConfigMap", "demo-todo")["data"]["API_BASE_URL"] == "http://demo-todo-backend:8000"
    contains = render(release="todo-staging")
    assert contains.has("Deployment", "todo-staging-backend")


def test_every_object_is_namespaced_to_the_release(dev):
    namespaced = [d for d in dev.docs if d["kind"] not in ("ClusterRole", "ClusterRoleBinding")]
    assert namespaced
    assert {d["metadata"].get("namespace") for d in namespaced} == {"todo"}


@pytest.mark.parametrize("component", ["backend", "frontend"])
def test_deployment_replicas_strategy_selector_labels(dev, component):
    deployment = dev.get("Deployment", f"todo-{component}")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    selector = spec["selector"]["matchLabels"]
    assert set(selector) == SELECTOR_KEYS, "selector must be name+instance+component only (immutable field)"
    assert selector == {
        "app.kubernetes.io/name": "todo",
        "app.kubernetes.io/instance": "todo",
        "app.kubernetes.io/component": component,
    }
    pod_labels = spec["template"]["metadata"]["labels"]
    assert set(pod_labels) >= STANDARD_LABELS
    assert selector.items() <= pod_labels.items()
    assert set(deployment["metadata"]["labels"]) >= STANDARD_LABELS
    assert pod_labels["app.kubernetes.io/managed-by"] == "Helm"


@pytest.mark.parametrize(("component", "port"), [("backend", 8000), ("frontend", 3000)])
def test_images_ports_and_pull_policy(dev, component, port):
    c = container(dev.get("Deployment", f"todo-{component}"))
    assert c["image"] == f"todo-{component}:{TAG}"
    assert c["imagePullPolicy"] == "Never", "values-dev: images are built into Minikube, never pulled"
    assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]


def pod_specs(manifest) -> dict[str, dict]:
    """kind/name -> pod spec of every object that runs the app's images."""
    specs = {f"Pod/{p['metadata']['name']}": p["spec"] for p in manifest.all("Pod")}
    for kind in ("Deployment", "Job"):
        specs |= {f"{kind}/{o['metadata']['name']}": o["spec"]["template"]["spec"] for o in manifest.all(kind)}
    return specs


def test_image_pull_secrets_reach_every_pod_of_the_apps_images(dev):
    specs = pod_specs(render(sets={"imagePullSecrets": "{todo-registry}"}))
    assert set(specs) == {"Deployment/todo-backend", "Deployment/todo-frontend", "Job/todo-migrations",
                          "Pod/todo-test-health"}, set(specs)  # fmt: skip
    for name, spec in specs.items():
        assert spec.get("imagePullSecrets") == [{"name": "todo-registry"}], name
    # None by default, and no empty key either.
    assert not any("imagePullSecrets" in spec for spec in pod_specs(dev).values())
    assert "imagePullSecrets.0: Does not match pattern" in render_fails(sets={"imagePullSecrets": "{Not_A_Name}"})


@pytest.mark.parametrize(("component", "port"), [("backend", 8000), ("frontend", 3000)])
def test_services_are_cluster_ip_and_select_their_pods(dev, component, port):
    service = dev.get("Service", f"todo-{component}")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    pod_labels = dev.get("Deployment", f"todo-{component}")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == component


def test_replica_count_comes_from_values():
    manifest = render(sets={"backend.replicaCount": "3", "frontend.replicaCount": "1"})
    assert manifest.get("Deployment", "todo-backend")["spec"]["replicas"] == 3
    assert manifest.get("Deployment", "todo-frontend")["spec"]["replicas"] == 1


# --- ingress --------------------------------------------------------------------------


def test_ingress_routes_api_to_backend_and_root_to_frontend(dev):
    ingress = dev.get("Ingress", "todo")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert "tls" not in ingress["spec"]
    (rule,) = ingress["spec"]["rules"]
    assert "host" not in rule, "no host by default: http://$(minikube ip)/ must work"
    paths = {p["path"]: p for p in rule["http"]["paths"]}
    assert set(paths) == {"/", "/api"}
    assert {p["pathType"] for p in paths.values()} == {"Prefix"}
    assert paths["/api"]["backend"]["service"] == {"name": "todo-backend", "port": {"name": "http"}}
    assert paths["/"]["backend"]["service"] == {"name": "todo-frontend", "port": {"name": "http"}}
    annotations = ingress["metadata"].get("annotations") or {}
    assert not any("rewrite" in key for key in annotations), "the backend serves /api itself: no rewrite"


def test_ingress_host_and_tls_are_optional_values():
    manifest = render(
        sets={
            "ingress.host": "todo.local",
            "ingress.tls.enabled": "true",
            "ingress.tls.secretName": "todo-tls",  # pragma: allowlist secret (a Secret name)
        }
    )
    spec = manifest.get("Ingress", "todo")["spec"]
    assert spec["rules"][0]["host"] == "todo.local"
    assert spec["tls"] == [{"hosts": ["todo.local"], "secretName": "todo-tls"}]  # pragma: allowlist secret


def test_ingress_can_be_disabled():
    assert not render(sets={"ingress.enabled": "false"}).all("Ingress")


# --- configuration --------------------------------------------------------------------


def test_configmap_holds_the_contract_keys(dev):
    data = dev.get("ConfigMap", "todo")["data"]
    assert set(data) == {"API_BASE_URL", *BACKEND_CONFIG_KEYS}
    assert data["API_BASE_URL"] == "http://todo-backend:8000"
    assert data["ENVIRONMENT"] == "dev"
    assert data["LOG_LEVEL"] == "info"
    assert data["OPENAI_MODEL"] == "gpt-4o-mini"
    assert data["OPENAI_BASE_URL"] == "https://api.openai.com/v1"
    assert data["DB_POOL_SIZE"] == "5"
    assert data["DB_MAX_OVERFLOW"] == "5"
    assert data["COOKIE_SECURE"] == "false"
    assert all(isinstance(v, str) for v in data.values())


TLS_SETS = {"ingress.host": "todo.local", "ingress.tls.enabled": "true", "ingress.tls.secretName": "todo-tls"}


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ({}, "false"),
        (TLS_SETS, "true"),
        ({**TLS_SETS, "config.cookieSecure": "false"}, "false"),
        ({"config.cookieSecure": "true"}, "true"),
        ({**TLS_SETS, "ingress.enabled": "false"}, "false"),
    ],
    ids=["plain-http", "tls", "tls-explicit-false", "explicit-true", "tls-without-ingress"],
)
def test_cookie_secure_follows_ingress_tls_unless_set(sets, expected):
    """Issue 14 item 4: TLS on the Ingress must not leave the session cookie without Secure."""
    assert render(sets=sets).get("ConfigMap", "todo")["data"]["COOKIE_SECURE"] == expected


def test_api_docs_are_on_in_dev_and_off_by_default(dev):
    """Issue 14 item 6: /api/docs only where asked for (values-dev.yaml), never by default."""
    assert dev.get("ConfigMap", "todo")["data"]["API_DOCS_ENABLED"] == "true"
    assert render(values_files=()).get("ConfigMap", "todo")["data"]["API_DOCS_ENABLED"] == "false"
    assert load_values("values.yaml")["config"]["apiDocsEnabled"] is False


def test_hardening_settings_default_to_the_apps_own_defaults(dev):
    """The chart sets every tuning knob the backend reads, with the backend's own defaults."""
    data = dev.get("ConfigMap", "todo")["data"]
    for key in set(BACKEND_CONFIG_KEYS) - CHART_OWN_DEFAULTS:
        default = SETTINGS_FIELDS[key.lower()].default
        assert data[key] == str(default) or float(data[key]) == default, key
    # Every setting the backend declares reaches it from the ConfigMap or the Secret.
    declared = {name.upper() for name in SETTINGS_FIELDS} - {"APP_DATABASE_URL"}
    assert declared == set(BACKEND_CONFIG_KEYS) | SECRET_KEYS


def test_the_cluster_verify_playbook_expects_the_settings_keys():
    """The verify playbook cannot import the backend, so it keeps a list: pinned here to the
    Settings model (plus the frontend's API_BASE_URL) and to the chart's Secret keys."""
    playbook = yaml.safe_load((REPO / "tests/cluster/playbooks/verify_release.yml").read_text())
    variables = playbook[0]["vars"]
    assert variables["todo_config_keys"] == sorted(["API_BASE_URL", *BACKEND_CONFIG_KEYS])
    assert set(variables["todo_secret_keys"]) == SECRET_KEYS


def test_trusted_proxies_name_only_the_ingress_hop(dev):
    """Issue 20 item 2: the chart trusts Minikube's pod CIDR (where the ingress-nginx
    controller runs), not every private range; the app's own default trusts nobody."""
    from todo_api.core.config import DEFAULT_TRUSTED_PROXIES

    assert dev.get("ConfigMap", "todo")["data"]["TRUSTED_PROXIES"] == "10.244.0.0/16"
    assert DEFAULT_TRUSTED_PROXIES == ""


def test_default_values_are_prod_environment():
    manifest = render(values_files=())
    assert manifest.get("ConfigMap", "todo")["data"]["ENVIRONMENT"] == "prod"


def test_backend_env_reads_config_and_every_secret_by_reference(dev):
    env = env_map(container(dev.get("Deployment", "todo-backend")))
    for key in BACKEND_CONFIG_KEYS:
        assert env[key]["valueFrom"]["configMapKeyRef"] == {"name": "todo", "key": key}
    for key in SECRET_KEYS:
        assert "value" not in env[key], f"{key} must never be a literal value"
        ref = env[key]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == EXISTING_SECRET
        assert ref["key"] == key
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "optional" not in env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert "optional" not in env["AUTH_SECRET"]["valueFrom"]["secretKeyRef"]


def test_frontend_env(dev):
    env = env_map(container(dev.get("Deployment", "todo-frontend")))
    assert env["API_BASE_URL"]["valueFrom"]["configMapKeyRef"] == {"name": "todo", "key": "API_BASE_URL"}
    assert env["PORT"]["value"] == "3000"
    assert env["HOSTNAME"]["value"] == "0.0.0.0"  # noqa: S104 (asserting the bind address, not binding)
    assert not SECRET_KEYS & set(env), "the frontend gets no secret"


# --- probes ---------------------------------------------------------------------------


def test_backend_probes(dev):
    c = container(dev.get("Deployment", "todo-backend"))
    assert c["livenessProbe"]["httpGet"] == {"path": "/api/v1/health", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/api/v1/health/ready", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/api/v1/health", "port": "http"}
    # a cold start gets periodSeconds * failureThreshold before liveness applies
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 60


def test_frontend_probes(dev):
    c = container(dev.get("Deployment", "todo-frontend"))
    for probe in ("livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    # Ready = renders a page (no backend call without a session); not the liveness check
    # again, which kube-score rightly flags (issue 20 item 10).
    assert c["readinessProbe"]["httpGet"] == {"path": "/signin", "port": "http"}


def test_probe_timings_come_from_values():
    manifest = render(
        sets={
            "backend.probes.readiness.timeoutSeconds": "7",
            "backend.probes.readiness.failureThreshold": "4",
            "backend.probes.startup.failureThreshold": "41",
            "frontend.probes.liveness.periodSeconds": "13",
        }
    )
    backend = container(manifest.get("Deployment", "todo-backend"))
    assert backend["readinessProbe"]["timeoutSeconds"] == 7
    assert backend["readinessProbe"]["failureThreshold"] == 4
    assert backend["startupProbe"]["failureThreshold"] == 41
    frontend = container(manifest.get("Deployment", "todo-frontend"))
    assert frontend["livenessProbe"]["periodSeconds"] == 13


# --- pod security, service account, resources -----------------------------------------


def test_every_pod_runs_restricted(dev):
    pods = dev.pod_specs()
    assert {w["kind"] for w, _ in pods} == {"Deployment", "Job", "Pod"}
    for workload, spec in pods:
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        assert spec["automountServiceAccountToken"] is False, where
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, where
        assert psc["runAsUser"] == 10001, where
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["runAsNonRoot"] is True, where
            assert sc.get("privileged", False) is False, where


@pytest.mark.parametrize(
    ("component", "writable"),
    [("backend", {"/tmp"}), ("frontend", {"/tmp", "/app/.next/cache"})],
)
def test_writable_paths_are_empty_dirs(dev, component, writable):
    spec = dev.get("Deployment", f"todo-{component}")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    assert set(mounts) == writable
    for name in mounts.values():
        assert "emptyDir" in volumes[name]


def test_service_account_does_not_mount_a_token(dev):
    account = dev.get("ServiceAccount", "todo")
    assert account["automountServiceAccountToken"] is False
    for name in ("todo-backend", "todo-frontend"):
        assert dev.get("Deployment", name)["spec"]["template"]["spec"]["serviceAccountName"] == "todo"


def test_every_container_has_requests_and_limits(dev):
    for workload, spec in render(sets={"postgresql.enabled": "true"}).pod_specs() + dev.pod_specs():
        for c in spec.get("initContainers", []) + spec["containers"]:
            for section in ("requests", "limits"):
                assert set(c["resources"][section]) >= {"cpu", "memory"}, (workload["metadata"]["name"], section)


def test_dev_resources_are_smaller_than_defaults():
    defaults, dev_values = load_values("values.yaml"), load_values("values-dev.yaml")
    for component in ("backend", "frontend"):
        default_mem = defaults[component]["resources"]["requests"]["memory"]
        dev_mem = dev_values[component]["resources"]["requests"]["memory"]
        assert int(dev_mem.rstrip("Mi")) < int(default_mem.rstrip("Mi")), component


def test_the_frontend_may_use_a_whole_cpu_in_every_values_file(dev):
    """Issue 15: one Node thread renders pages; a limit under one CPU throttles it in bursts."""
    for name, rendered in (("values.yaml", render(values_files=())), ("values-dev.yaml", dev)):
        (spec,) = [s for w, s in rendered.pod_specs() if w["metadata"]["name"] == "todo-frontend"]
        assert spec["containers"][0]["resources"]["limits"]["cpu"] in ("1", 1), name


def test_dev_values_set_dev_environment_and_local_image_policy():
    dev_values = load_values("values-dev.yaml")
    assert dev_values["config"]["environment"] == "dev"
    assert dev_values["backend"]["image"]["pullPolicy"] in ("Never", "IfNotPresent")
    assert dev_values["frontend"]["image"]["pullPolicy"] in ("Never", "IfNotPresent")


# --- availability and network ---------------------------------------------------------


@pytest.mark.parametrize("component", ["backend", "frontend"])
def test_pod_disruption_budget_per_tier(dev, component):
    pdb = dev.get("PodDisruptionBudget", f"todo-{component}")
    assert pdb["spec"]["minAvailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"]
        == dev.get("Deployment", f"todo-{component}")["spec"]["selector"]["matchLabels"]
    )


def test_no_pod_disruption_budget_for_a_single_replica():
    manifest = render(sets={"backend.replicaCount": "1"})
    assert not manifest.has("PodDisruptionBudget", "todo-backend"), "it would block node drains"
    assert manifest.has("PodDisruptionBudget", "todo-frontend")


# --- autoscaling ----------------------------------------------------------------------


def test_autoscaling_is_off_by_default(dev):
    assert dev.all("HorizontalPodAutoscaler") == []
    for values_file in ("values.yaml", "values-dev.yaml"):
        for component in ("backend", "frontend"):
            assert load_values(values_file)[component].get("autoscaling", {}).get("enabled") in (None, False)


@pytest.mark.parametrize("component", ["backend", "frontend"])
def test_an_hpa_per_tier_scales_its_deployment_on_the_cpu_request(component):
    manifest = render(sets={f"{c}.autoscaling.enabled": "true" for c in ("backend", "frontend")})
    hpa = manifest.get("HorizontalPodAutoscaler", f"todo-{component}")
    deployment = manifest.get("Deployment", f"todo-{component}")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["labels"] == deployment["metadata"]["labels"]
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"todo-{component}"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)
    assert spec["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    ]
    assert spec["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 300}}
    # The HPA owns the replica count (helm create's pattern): an upgrade must not reset it.
    assert "replicas" not in deployment["spec"]
    # Utilization is of the request, so the container must have one.
    assert container(deployment)["resources"]["requests"]["cpu"]
    assert manifest.get("PodDisruptionBudget", f"todo-{component}")["spec"]["minAvailable"] == 1


def test_autoscaling_values_reach_the_hpa_of_that_tier_only():
    tuned = {
        "enabled": "true",
        "minReplicas": "3",
        "maxReplicas": "8",
        "targetCPUUtilizationPercentage": "50",
        "targetMemoryUtilizationPercentage": "80",
        "scaleDownStabilizationWindowSeconds": "20",
    }
    manifest = render(sets={f"backend.autoscaling.{key}": value for key, value in tuned.items()})
    spec = manifest.get("HorizontalPodAutoscaler", "todo-backend")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 8)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in spec["metrics"]}
    assert targets == {"cpu": 50, "memory": 80}
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 20
    assert not manifest.has("HorizontalPodAutoscaler", "todo-frontend")
    assert manifest.get("Deployment", "todo-frontend")["spec"]["replicas"] == 2


def test_no_pod_disruption_budget_when_the_hpa_may_scale_to_one():
    manifest = render(sets={"backend.autoscaling.enabled": "true", "backend.autoscaling.minReplicas": "1"})
    assert not manifest.has("PodDisruptionBudget", "todo-backend"), "it would block node drains"
    # replicaCount no longer counts for the backend; the frontend keeps its budget.
    assert manifest.has("PodDisruptionBudget", "todo-frontend")


def test_min_replicas_above_max_replicas_fails_naming_both():
    inverted = {"enabled": "true", "minReplicas": "6", "maxReplicas": "5"}
    error = render_fails(sets={f"frontend.autoscaling.{key}": value for key, value in inverted.items()})
    assert "frontend.autoscaling.minReplicas (6) is above frontend.autoscaling.maxReplicas (5)" in error


@pytest.mark.parametrize("component", ["backend", "frontend"])
def test_replicas_prefer_different_nodes_of_those_that_accept_pods(dev, component):
    spec = dev.get("Deployment", f"todo-{component}")["spec"]
    (spread,) = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    # Soft: one node, or a node short of room, still schedules every replica.
    assert (spread["maxSkew"], spread["whenUnsatisfiable"]) == (1, "ScheduleAnyway")
    # Per revision, so that a surge pod does not balance against the pods it replaces (counted
    # over every revision, a rollout restart put both replicas on one node).
    assert spread["matchLabelKeys"] == ["pod-template-hash"]
    # Cordoned and unreachable nodes are not domains: a drain and a node loss can reschedule.
    assert spread["nodeTaintsPolicy"] == "Honor"
    assert spread["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]


def selects(selector: dict, labels: dict) -> bool:
    """Kubernetes label-selector semantics (matchLabels + In/NotIn/Exists/DoesNotExist)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def pod_labels(manifest, component):
    for workload, _spec in manifest.pod_specs():
        meta = workload["metadata"] if workload["kind"] == "Pod" else workload["spec"]["template"]["metadata"]
        if meta["labels"]["app.kubernetes.io/component"] == component:
            return meta["labels"]
    raise AssertionError(component)


def peers_allow(rule_peers: list[dict], labels: dict | None = None, namespace: str | None = None) -> bool:
    for peer in rule_peers:
        pod_only = "podSelector" in peer and "namespaceSelector" not in peer
        namespace_only = "namespaceSelector" in peer and "podSelector" not in peer
        if labels is not None and pod_only and selects(peer["podSelector"], labels):
            return True
        if namespace is not None and namespace_only:
            ns_labels = {"kubernetes.io/metadata.name": namespace}
            if selects(peer["namespaceSelector"], ns_labels):
                return True
    return False


def test_backend_network_policy(dev):
    policy = dev.get("NetworkPolicy", "todo-backend")["spec"]
    assert selects(policy["podSelector"], pod_labels(dev, "backend"))
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert peers_allow(rule["from"], labels=pod_labels(dev, "frontend"))
    assert peers_allow(rule["from"], namespace="ingress-nginx")
    assert not peers_allow(rule["from"], labels=pod_labels(dev, "migrations"))
    assert not peers_allow(rule["from"], namespace="default")
    egress_ports = {(p["port"], p["protocol"]) for r in policy["egress"] for p in r["ports"]}
    assert {(53, "UDP"), (53, "TCP"), (5432, "TCP")} <= egress_ports


def database_rules(policy: dict) -> list[dict]:
    return [r for r in policy["spec"]["egress"] if {"port": 5432, "protocol": "TCP"} in r["ports"]]


@pytest.mark.parametrize("policy_name", ["todo-backend", "todo-migrations"])
def test_database_egress_goes_only_to_the_embedded_postgresql_when_it_is_the_database(policy_name):
    """Issue 14 item 6: with the embedded PostgreSQL, 5432 reaches that pod and nothing else."""
    manifest = render(sets={"postgresql.enabled": "true"})
    (rule,) = database_rules(manifest.get("NetworkPolicy", policy_name))
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}], "443 (OpenAI) stays a rule of its own"
    assert "to" in rule, "5432 must not be open to every address"
    assert peers_allow(rule["to"], labels=pod_labels(manifest, "postgresql"))
    assert not peers_allow(rule["to"], labels=pod_labels(manifest, "frontend"))
    assert not peers_allow(rule["to"], namespace="default")


@pytest.mark.parametrize("policy_name", ["todo-backend", "todo-migrations"])
def test_database_egress_stays_open_to_any_address_for_an_external_database(dev, policy_name):
    (rule,) = database_rules(dev.get("NetworkPolicy", policy_name))
    assert "to" not in rule, "Neon has no fixed address: the port to anywhere"


def test_frontend_network_policy(dev):
    policy = dev.get("NetworkPolicy", "todo-frontend")["spec"]
    assert selects(policy["podSelector"], pod_labels(dev, "frontend"))
    (rule,) = policy["ingress"]
    assert peers_allow(rule["from"], namespace="ingress-nginx")
    assert not peers_allow(rule["from"], labels=pod_labels(dev, "backend"))
    assert rule["ports"] == [{"port": 3000, "protocol": "TCP"}]
    dns = [r for r in policy["egress"] if "to" not in r]
    assert {(p["port"], p["protocol"]) for r in dns for p in r["ports"]} == {(53, "UDP"), (53, "TCP")}
    to_backend = [r for r in policy["egress"] if "to" in r]
    assert len(to_backend) == 1
    assert peers_allow(to_backend[0]["to"], labels=pod_labels(dev, "backend"))
    assert to_backend[0]["ports"] == [{"port": 8000, "protocol": "TCP"}]


def test_every_pod_is_covered_by_a_network_policy():
    manifest = render(sets={"postgresql.enabled": "true"})
    policies = manifest.all("NetworkPolicy")
    for workload, _ in manifest.pod_specs():
        meta = workload["metadata"] if workload["kind"] == "Pod" else workload["spec"]["template"]["metadata"]
        assert any(selects(p["spec"]["podSelector"], meta["labels"]) for p in policies), workload["metadata"]["name"]


def test_network_policies_can_be_switched_off():
    assert not render(sets={"networkPolicy.enabled": "false"}).all("NetworkPolicy")


# --- helm test and NOTES --------------------------------------------------------------


def test_helm_test_pod_calls_backend_health_through_its_service(dev):
    (pod,) = dev.all("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (c,) = pod["spec"]["containers"]
    assert c["image"] == f"todo-backend:{TAG}", "only our images exist in Minikube"
    assert c["command"][:2] == ["python", "-c"]
    urls = env_map(c)["TARGET_URLS"]["value"].split()
    assert "http://todo-backend:8000/api/v1/health" in urls
    assert pod["spec"]["restartPolicy"] == "Never"


def render_notes(tmp_path, **sets) -> str:
    """helm template does not print NOTES.txt; render it through tpl from a copy of the chart."""
    import shutil

    from chart_render import run_helm

    copy = tmp_path / "todo"
    shutil.copytree(CHART, copy)
    (copy / "notes-under-test.txt").write_text((copy / "templates" / "NOTES.txt").read_text())
    (copy / "templates" / "zz-notes-under-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n"
        '{{ tpl (.Files.Get "notes-under-test.txt") . | indent 4 }}\n'
    )
    args = ["template", "todo", str(copy), "-n", "todo", "-f", str(copy / "values-dev.yaml")]
    for key, value in {
        "existingSecret": EXISTING_SECRET,
        "backend.image.tag": TAG,
        "frontend.image.tag": TAG,
        **sets,
    }.items():
        args += ["--set", f"{key}={value}"]
    result = run_helm(*args, "--show-only", "templates/zz-notes-under-test.yaml")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["data"]["notes"]


def test_notes_give_minikube_url_and_pending_checklist(tmp_path):
    notes = render_notes(tmp_path)
    assert "http://$(minikube -p todo ip)/" in notes
    assert "Pending" in notes
    assert "kubectl -n todo describe pod" in notes
    assert "minikube -p todo image ls" in notes
    with_host = render_notes(tmp_path / "h", **{"ingress.host": "todo.local"})
    assert "http://todo.local/" in with_host


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ({}, "1"),  # the default limit, "1"
        ({"backend.resources.limits.cpu": "2"}, "2"),
        ({"backend.resources.limits.cpu": "1500m"}, "2"),
        ({"backend.resources.limits.cpu": "250m"}, "1"),
        ({"backend.resources.limits.cpu": "0.5"}, "1"),
        ({"backend.resources.limits.cpu": "2", "config.webConcurrency": "3"}, "3"),
    ],
    ids=["default-limit", "two-cpus", "one-and-a-half", "quarter", "half", "explicit"],
)
def test_web_concurrency_is_one_worker_per_cpu_of_the_limit(sets, expected):
    """Issue 15 item 2: unless set, the backend runs one worker per CPU its limit allows."""
    assert render(values_files=(), sets=sets).get("ConfigMap", "todo")["data"]["WEB_CONCURRENCY"] == expected


def test_dev_limit_gives_one_worker(dev):
    assert dev.get("ConfigMap", "todo")["data"]["WEB_CONCURRENCY"] == "1"
    assert load_values("values.yaml")["config"]["webConcurrency"] is None
