"""Secret modes, the migration hook's view of its Secret/ConfigMap, checksums, embedded PostgreSQL."""

import base64
import secrets
from urllib.parse import urlsplit

import pytest
from chart_render import EXISTING_SECRET, TAG, render, render_fails

HOOK = "helm.sh/hook"
WEIGHT = "helm.sh/hook-weight"
DELETE = "helm.sh/hook-delete-policy"


def generated_secrets(openai: bool = True) -> dict[str, str]:
    values = {
        "secrets.authSecret": secrets.token_urlsafe(32),
        "secrets.databaseUrl": f"postgresql://u:{secrets.token_urlsafe(12)}@db.example.invalid/app?sslmode=require&channel_binding=require",
    }
    if openai:
        values["secrets.openaiApiKey"] = secrets.token_urlsafe(24)
    return values


def decoded(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def env_refs(container: dict) -> dict[str, dict]:
    return {e["name"]: e["valueFrom"] for e in container["env"] if "valueFrom" in e}


def job_container(manifest) -> dict:
    (job,) = manifest.all("Job")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    return c


def backend_container(manifest) -> dict:
    (c,) = manifest.get("Deployment", "todo-backend")["spec"]["template"]["spec"]["containers"]
    return c


def weight(doc) -> int:
    return int(doc["metadata"]["annotations"].get(WEIGHT, "0"))


# --- secret sources -------------------------------------------------------------------


def test_existing_secret_mode_renders_no_secret(dev):
    assert dev.all("Secret") == [], "existingSecret: the chart only references the Secret"


def test_no_secret_source_fails_naming_the_value_to_set():
    error = render_fails(existing_secret=None)
    assert "no secret source" in error
    assert "existingSecret" in error
    assert "secrets.authSecret" in error


def test_short_auth_secret_is_refused_by_the_schema():
    error = render_fails(
        existing_secret=None,
        set_strings={"secrets.authSecret": secrets.token_hex(8), "secrets.databaseUrl": "postgresql://h/db"},
    )
    assert "secrets.authSecret" in error


def test_partial_chart_secret_values_fail_with_the_missing_value():
    error = render_fails(existing_secret=None, set_strings={"secrets.authSecret": secrets.token_urlsafe(32)})
    assert "secrets.databaseUrl" in error
    error = render_fails(
        existing_secret=None, set_strings={"secrets.databaseUrl": "postgresql://x@db.example.invalid/app"}
    )
    assert "secrets.authSecret" in error


def test_both_secret_sources_are_refused():
    error = render_fails(set_strings={"secrets.authSecret": secrets.token_urlsafe(32)})
    assert "either existingSecret or secrets" in error


def test_chart_created_secret_holds_the_given_values():
    given = generated_secrets()
    manifest = render(existing_secret=None, set_strings=given)
    secret = manifest.get("Secret", "todo")
    assert secret["type"] == "Opaque"
    assert decoded(secret) == {
        "AUTH_SECRET": given["secrets.authSecret"],
        "DATABASE_URL": given["secrets.databaseUrl"],
        "OPENAI_API_KEY": given["secrets.openaiApiKey"],
    }
    refs = env_refs(backend_container(manifest))
    for key in ("DATABASE_URL", "AUTH_SECRET", "OPENAI_API_KEY"):
        assert refs[key]["secretKeyRef"]["name"] == "todo"
    # the values reach the pods only through the Secret, never as literals
    for value in given.values():
        without_secrets = [d for d in manifest.docs if d["kind"] != "Secret"]
        assert value not in repr(without_secrets)


def test_openai_key_is_optional():
    manifest = render(existing_secret=None, set_strings=generated_secrets(openai=False))
    assert "OPENAI_API_KEY" not in manifest.get("Secret", "todo")["data"]
    ref = env_refs(backend_container(manifest))["OPENAI_API_KEY"]["secretKeyRef"]
    assert ref["optional"] is True


# --- migration hook -------------------------------------------------------------------


def test_migration_job_is_a_pre_install_pre_upgrade_hook(dev):
    job = dev.get("Job", "todo-migrations")
    annotations = job["metadata"]["annotations"]
    assert annotations[HOOK] == "pre-install,pre-upgrade"
    assert annotations[DELETE] == "before-hook-creation,hook-succeeded"
    c = job_container(dev)
    assert c["command"] == ["todo-api", "migrate"]
    assert c["image"] == f"todo-backend:{TAG}"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


def assert_job_finds_everything_at_hook_time(manifest, external_secrets: set[str], release_time: set[str]):
    """Every Secret/ConfigMap/ServiceAccount the Job uses must exist when the hook runs:
    created outside the chart beforehand, a hook of the same phase with a lower weight, or
    (for post-install hooks only) a normal release resource."""
    job = manifest.get("Job", "todo-migrations")
    phases = set(job["metadata"]["annotations"][HOOK].split(","))
    hooks = {
        (d["kind"], d["metadata"]["name"]): d
        for d in manifest.docs
        if HOOK in d["metadata"].get("annotations", {}) and d is not job
    }

    def available(kind: str, name: str) -> bool:
        if kind == "Secret" and name in external_secrets:
            return True
        if (kind, name) in release_time:
            return True
        hook = hooks.get((kind, name))
        if hook is None:
            return False
        hook_phases = set(hook["metadata"]["annotations"][HOOK].split(","))
        return phases <= hook_phases and weight(hook) < weight(job)

    spec = job["spec"]["template"]["spec"]
    assert available("ServiceAccount", spec["serviceAccountName"]), spec["serviceAccountName"]
    refs = env_refs(spec["containers"][0])
    assert refs, "the Job needs its configuration"
    for name, ref in refs.items():
        if "secretKeyRef" in ref:
            assert available("Secret", ref["secretKeyRef"]["name"]), (name, ref)
        else:
            assert available("ConfigMap", ref["configMapKeyRef"]["name"]), (name, ref)
    return refs


def test_hook_finds_its_secret_and_config_in_existing_secret_mode(dev):
    refs = assert_job_finds_everything_at_hook_time(dev, {EXISTING_SECRET}, set())
    assert refs["DATABASE_URL"]["secretKeyRef"]["name"] == EXISTING_SECRET
    assert refs["ENVIRONMENT"]["configMapKeyRef"]["name"] == "todo-migrations"
    assert refs["DB_CONNECT_TIMEOUT_SECONDS"]["configMapKeyRef"]["name"] == "todo-migrations"
    # `todo-api migrate` reads only the database settings: least privilege
    assert "AUTH_SECRET" not in refs
    assert "OPENAI_API_KEY" not in refs


def test_hook_finds_its_secret_and_config_in_chart_created_mode():
    given = generated_secrets()
    manifest = render(existing_secret=None, set_strings=given)
    refs = assert_job_finds_everything_at_hook_time(manifest, set(), set())
    hook_secret = manifest.get("Secret", refs["DATABASE_URL"]["secretKeyRef"]["name"])
    assert hook_secret["metadata"]["name"] == "todo-migrations"
    assert hook_secret["metadata"]["annotations"][DELETE] == "before-hook-creation,hook-succeeded"
    assert decoded(hook_secret) == {"DATABASE_URL": given["secrets.databaseUrl"]}
    hook_config = manifest.get("ConfigMap", "todo-migrations")
    assert hook_config["data"] == manifest.get("ConfigMap", "todo")["data"]


def test_the_hook_finder_rejects_a_job_reading_the_release_secret():
    # Proves the check above can fail: the release Secret `todo` is not a hook, so a
    # pre-install Job could not read it.
    manifest = render(existing_secret=None, set_strings=generated_secrets())
    job = manifest.get("Job", "todo-migrations")
    for e in job["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "secretKeyRef" in e.get("valueFrom", {}):
            e["valueFrom"]["secretKeyRef"]["name"] = "todo"
    with pytest.raises(AssertionError):
        assert_job_finds_everything_at_hook_time(manifest, set(), set())


def test_migrations_can_be_disabled():
    manifest = render(sets={"migrations.enabled": "false"})
    assert not manifest.all("Job")
    assert not manifest.has("ConfigMap", "todo-migrations")


# --- checksums ------------------------------------------------------------------------


def pod_annotations(manifest, name):
    return manifest.get("Deployment", name)["spec"]["template"]["metadata"]["annotations"]


def test_pods_carry_config_and_secret_checksums(dev):
    backend = pod_annotations(dev, "todo-backend")
    assert len(backend["checksum/config"]) == 64
    assert len(backend["checksum/secret"]) == 64
    assert len(pod_annotations(dev, "todo-frontend")["checksum/config"]) == 64


def test_config_change_changes_config_checksum_only(dev):
    changed = render(sets={"config.logLevel": "debug"})
    assert changed.get("ConfigMap", "todo")["data"]["LOG_LEVEL"] == "debug"
    for name in ("todo-backend", "todo-frontend"):
        assert pod_annotations(changed, name)["checksum/config"] != pod_annotations(dev, name)["checksum/config"]
    assert (
        pod_annotations(changed, "todo-backend")["checksum/secret"]
        == pod_annotations(dev, "todo-backend")["checksum/secret"]
    )
    # and the same values give the same checksum (no randomness in it)
    assert (
        pod_annotations(render(), "todo-backend")["checksum/config"]
        == pod_annotations(dev, "todo-backend")["checksum/config"]
    )


def test_secret_change_changes_secret_checksum():
    given = generated_secrets()
    first = render(existing_secret=None, set_strings=given)
    second = render(existing_secret=None, set_strings={**given, "secrets.authSecret": secrets.token_urlsafe(32)})
    assert (
        pod_annotations(first, "todo-backend")["checksum/secret"]
        != pod_annotations(second, "todo-backend")["checksum/secret"]
    )


def test_existing_secret_checksum_value_drives_the_secret_checksum_in_helm_template(dev):
    """The Ansible deploy passes a digest of the Secret's content: `helm template` (no cluster,
    so no lookup) then renders a checksum that follows the content, and only the content."""
    first, second = secrets.token_hex(32), secrets.token_hex(32)

    def annotations(digest: str, name: str = "todo-backend") -> dict:
        return pod_annotations(render(set_strings={"existingSecretChecksum": digest}), name)

    def checksum(digest: str) -> str:
        return annotations(digest)["checksum/secret"]

    assert checksum(first) == checksum(first), "same content, same annotation: no rollout on a rerun"
    assert checksum(first) != checksum(second), "changed content rolls the backend"
    assert checksum(first) != pod_annotations(dev, "todo-backend")["checksum/secret"]
    # The frontend does not read the Secret and does not roll with it.
    assert "checksum/secret" not in annotations(first, "todo-frontend")


# --- embedded PostgreSQL --------------------------------------------------------------


@pytest.fixture(scope="module")
def with_postgres():
    return render(sets={"postgresql.enabled": "true"})


def test_postgresql_statefulset_with_pvc(with_postgres):
    sts = with_postgres.get("StatefulSet", "todo-postgresql")
    assert sts["spec"]["replicas"] == 1
    # Governed by a headless Service (stable pod DNS); clients use todo-postgresql.
    assert sts["spec"]["serviceName"] == "todo-postgresql-headless"
    assert with_postgres.get("Service", "todo-postgresql-headless")["spec"]["clusterIP"] == "None"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    spec = sts["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert {"name": "data", "mountPath": "/var/lib/postgresql/data"} in c["volumeMounts"]
    env = {e["name"]: e for e in c["env"]}
    assert "POSTGRES_PASSWORD" not in env, "the password is read from a file, not the env"
    assert env["POSTGRES_PASSWORD_FILE"]["value"].startswith("/etc/postgresql-secret/")
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    service = with_postgres.get("Service", "todo-postgresql")
    assert service["spec"]["ports"][0]["port"] == 5432


def test_postgresql_secret_builds_database_url(with_postgres):
    """Issue 20 item 7: the API's URL names the row-access role, the migrator's the owner."""
    secret = with_postgres.get("Secret", "todo-postgresql")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    data = decoded(secret)
    owner_password, app_password = data["POSTGRES_PASSWORD"], data["APP_PASSWORD"]
    for password in (owner_password, app_password):
        assert len(password) == 32 and password.isalnum()
    assert owner_password != app_password
    for key, user, password in (
        ("MIGRATION_DATABASE_URL", "todo", owner_password),
        ("DATABASE_URL", "todo_app", app_password),
    ):
        url = urlsplit(data[key])
        assert (url.scheme, url.username, url.password, url.hostname, url.port, url.path) == (
            "postgresql",
            user,
            password,
            "todo-postgresql",
            5432,
            "/todo",
        ), key


def test_postgresql_mode_migrations_run_as_owner_and_grant_the_app_role(with_postgres):
    job = with_postgres.get("Job", "todo-migrations")
    refs = env_refs(job["spec"]["template"]["spec"]["containers"][0])
    assert refs["DATABASE_URL"]["secretKeyRef"] == {"name": "todo-postgresql", "key": "MIGRATION_DATABASE_URL"}
    assert refs["APP_DATABASE_URL"]["secretKeyRef"] == {"name": "todo-postgresql", "key": "DATABASE_URL"}
    backend_env = {e["name"] for e in backend_container(with_postgres)["env"]}
    assert "APP_DATABASE_URL" not in backend_env and "MIGRATION_DATABASE_URL" not in backend_env


def test_postgresql_mode_backend_reads_database_url_from_chart_secret(with_postgres):
    refs = env_refs(backend_container(with_postgres))
    assert refs["DATABASE_URL"]["secretKeyRef"] == {"name": "todo-postgresql", "key": "DATABASE_URL"}
    assert refs["AUTH_SECRET"]["secretKeyRef"]["name"] == EXISTING_SECRET


def test_postgresql_mode_migration_runs_after_the_database_exists(with_postgres):
    # No live StatefulSet (first install): the migration becomes post-install so the database,
    # a normal release resource, exists; the Job then finds the chart-managed Secret.
    job = with_postgres.get("Job", "todo-migrations")
    assert job["metadata"]["annotations"][HOOK] == "post-install,post-upgrade"
    refs = assert_job_finds_everything_at_hook_time(with_postgres, {EXISTING_SECRET}, {("Secret", "todo-postgresql")})
    assert refs["DATABASE_URL"]["secretKeyRef"]["name"] == "todo-postgresql"
    for hook in ("ServiceAccount", "ConfigMap"):
        assert (
            with_postgres.get(hook, "todo-migrations")["metadata"]["annotations"][HOOK] == "post-install,post-upgrade"
        )


def test_postgresql_with_chart_created_secret_needs_only_auth_secret():
    manifest = render(
        existing_secret=None,
        sets={"postgresql.enabled": "true"},
        set_strings={"secrets.authSecret": secrets.token_urlsafe(32)},
    )
    assert set(manifest.get("Secret", "todo")["data"]) == {"AUTH_SECRET"}
    refs = assert_job_finds_everything_at_hook_time(manifest, set(), {("Secret", "todo-postgresql")})
    assert refs["DATABASE_URL"]["secretKeyRef"]["name"] == "todo-postgresql"
    assert not manifest.has("Secret", "todo-migrations"), "no hook Secret needed in this mode"


def test_postgresql_network_policy_admits_only_backend_and_migrations(with_postgres):
    policy = with_postgres.get("NetworkPolicy", "todo-postgresql")["spec"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchExpressions"][0]["values"] == ["backend", "migrations"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert "egress" not in policy, "the database needs no egress"
