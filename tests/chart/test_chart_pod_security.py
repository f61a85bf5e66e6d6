"""Issue 20, item 9: every pod the chart renders (Deployments, the in-cluster PostgreSQL,
the migration hook Job, the helm test Pod) satisfies the Pod Security Standard
`restricted`, checked rule by rule as the admission controller does (Kubernetes 1.32's
policy). The namespace the deploy creates enforces it (roles/secrets); the cluster tier
installs the chart under that enforcement (tests/cluster/test_pod_security_admission.py).
"""

from __future__ import annotations

import pytest
from chart_render import RENDER_MODES, render

# Volume types `restricted` allows (everything else, hostPath first of all, is refused).
ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def restricted_violations(pod: dict) -> list[str]:
    """What the `restricted` profile would refuse in this pod spec (empty: admitted)."""
    problems = []
    security = pod.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            problems.append(f"{host} is set")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']} is of a forbidden type {sorted(kinds)}")
    for sysctl in security.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"unsafe sysctl {sysctl['name']}")
    pod_non_root = security.get("runAsNonRoot") is True
    pod_seccomp = (security.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        problems.append(f"pod seccompProfile {pod_seccomp}")
    if security.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    containers = [
        *pod.get("initContainers", []),
        *pod.get("containers", []),
        *pod.get("ephemeralContainers", []),
    ]
    for container in containers:
        name = container["name"]
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities.drop lacks ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        non_root = context.get("runAsNonRoot", pod_non_root if pod_non_root else None)
        if non_root is not True:
            problems.append(f"{name}: runAsNonRoot is not true (pod or container)")
        if context.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is {seccomp}, not RuntimeDefault")
        if context.get("procMount") not in (None, "Default"):
            problems.append(f"{name}: procMount {context['procMount']}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


@pytest.mark.parametrize("mode", sorted(RENDER_MODES))
def test_every_pod_of_the_chart_satisfies_restricted(mode):
    manifest = render(**RENDER_MODES[mode])
    pods = manifest.pod_specs()
    kinds = {doc["kind"] for doc, _ in pods}
    assert {"Deployment", "Job", "Pod"} <= kinds  # the apps, the migration hook, helm test
    if "postgresql" in mode:
        assert "StatefulSet" in kinds
    violations = {
        f"{doc['kind']}/{doc['metadata']['name']}": problems
        for doc, spec in pods
        if (problems := restricted_violations(spec))
    }
    assert violations == {}


def test_the_checker_refuses_what_restricted_refuses():
    """Proves the check above can fail: a pod as `helm create` leaves it, and a hostPath."""
    plain = {"containers": [{"name": "app", "image": "x:1"}]}
    assert len(restricted_violations(plain)) == 4
    host = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        "containers": [
            {
                "name": "app",
                "image": "x:1",
                "ports": [{"containerPort": 80, "hostPort": 80}],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
                },
            }
        ],
    }
    assert sorted(restricted_violations(host)) == sorted(
        [
            "volume root is of a forbidden type ['hostPath']",
            "app: adds capabilities ['SYS_ADMIN']",
            "app: hostPort 80",
        ]
    )
