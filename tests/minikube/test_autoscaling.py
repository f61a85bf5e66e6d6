"""Autoscaling on a real Minikube: the user's deploy with `todo_autoscaling` enables the
metrics-server addon (our v0.8.0 build, offline) and the chart's HorizontalPodAutoscalers; under
load through the Ingress the backend scales out above its 2 pods and, once the load is gone,
back to 2, and no request fails and no acknowledged write is lost meanwhile.

Timings are the cluster's own: metrics-server scrapes every 60 s (the addon's
--metric-resolution), the HPA controller syncs every 15 s (its default). Only the scale-down
stabilization window is shortened (SCALE_DOWN_WINDOW, a value for tests). Load goes to
127.0.0.1 only (`minikube start --ports`), bounded in time and count.
Run on its own: `.venv/bin/pytest tests/minikube/test_autoscaling.py -s` (prints the timeline).

The `autoscaled` fixture owns a profile of its own. To run these tests on a profile that is up
already (e.g. the app profile of test_app_on_minikube.py), deploy there once more with
AUTOSCALING_VARS as extra vars (`app.deploy("-e", json.dumps(AUTOSCALING_VARS))`) and hand that
ProfileApp over instead: the tests assume the release `todo` in namespace `todo` with its backend
at the HPA's minimum of 2 pods and no other load on the node.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from conftest import free_port

from tools.cluster import scenarios
from tools.cluster.traffic import Traffic
from tools.minikube import faults, metrics_server
from tools.minikube.app import ProfileApp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

PROFILE = "todo-hpa"
MIN_REPLICAS = 2  # the chart's default minReplicas
MAX_REPLICAS = 4  # below the chart's 5: each extra pod costs a Python start on a 2-CPU node
SCALE_DOWN_WINDOW = 30  # seconds; Kubernetes' default 300 is a production value
AUTOSCALING_VARS = {
    "todo_autoscaling": True,
    "release_values": {
        "backend": {
            "autoscaling": {"maxReplicas": MAX_REPLICAS, "scaleDownStabilizationWindowSeconds": SCALE_DOWN_WINDOW}
        },
        "frontend": {"autoscaling": {"scaleDownStabilizationWindowSeconds": SCALE_DOWN_WINDOW}},
    },
}
# Bounds, not targets: a metrics-server scrape (60 s) averages the load since the previous one,
# then an HPA sync (15 s) and a pod start (its readiness); scaling in adds the stabilization
# window and the old pods' preStop (10 s) and shutdown.
SCALE_OUT_WITHIN = 300
SCALE_IN_WITHIN = 360
TOP_WITHIN = 150  # the first scrape comes up to 60 s after metrics-server starts
# A steady light load that stays under the target (one user, a round every 2 s) runs from
# before the load to after the scale-in, so every pod that comes and goes does so under traffic.
STEADY_PAUSE = 2.0


@pytest.fixture(scope="module")
def autoscaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProfileApp]:
    with ProfileApp(
        PROFILE, tmp_path_factory.mktemp("hpa"), ingress_port=free_port(), extra_vars=AUTOSCALING_VARS
    ) as app:
        print(f"\nMinikube app with autoscaling: {app.timings}")
        yield app


def get_json(app: ProfileApp, *args: str) -> dict:
    return json.loads(app.kubectl("get", *args, "-o", "json").stdout)


def test_the_metrics_server_addon_runs_our_image_and_serves_pod_metrics(autoscaled: ProfileApp) -> None:
    deployment = get_json(autoscaled, "deployment/metrics-server", "-n", "kube-system")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == metrics_server.IMAGE  # the addon's default registry dropped
    assert "--kubelet-insecure-tls" in container["args"]
    started = time.monotonic()
    while True:
        top = autoscaled.kubectl("top", "pods", "-l", "app.kubernetes.io/component=backend", check=False)
        if top.returncode == 0 and top.stdout.count("todo-backend-") == MIN_REPLICAS:
            break
        assert time.monotonic() - started < TOP_WITHIN, top.stdout + top.stderr
        time.sleep(5)
    print(f"\n`kubectl top pods` answered after {time.monotonic() - started:.0f}s:\n{top.stdout}")
    # The APIService the HPAs read through is served by it.
    service = get_json(autoscaled, "apiservice/v1beta1.metrics.k8s.io")
    assert any(c["type"] == "Available" and c["status"] == "True" for c in service["status"]["conditions"])


def replicas(app: ProfileApp) -> tuple[int, int]:
    """(what the HPA asks of the backend Deployment, its ready pods)."""
    status = get_json(app, "deployment/todo-backend")
    return status["spec"]["replicas"], status["status"].get("readyReplicas", 0)


def backend_pods(app: ProfileApp) -> int:
    """Backend pods that exist, those still stopping included."""
    return len(app.pods("backend"))


def test_the_backend_scales_out_under_load_and_back_without_a_failed_request(autoscaled: ProfileApp) -> None:
    hpa = get_json(autoscaled, "hpa/todo-backend")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (MIN_REPLICAS, MAX_REPLICAS)
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == SCALE_DOWN_WINDOW
    assert replicas(autoscaled) == (MIN_REPLICAS, MIN_REPLICAS)
    cluster = faults.on_profile(
        PROFILE, autoscaled.db_dir, autoscaled.ingress, autoscaled.env(), autoscaled.kubectl_path(), autoscaled.deploy
    )
    bound = SCALE_OUT_WITHIN + SCALE_IN_WITHIN + 60
    steady = Traffic(autoscaled.ingress, users=1, visitors=0, seconds=bound, max_requests=5_000, pause=STEADY_PAUSE)
    load = Traffic(
        autoscaled.ingress, users=3, visitors=0, seconds=SCALE_OUT_WITHIN,
        max_requests=SCALE_OUT_WITHIN * scenarios.MAX_REQUESTS_PER_SECOND,
    )  # fmt: skip
    timeline: dict[str, float] = {}
    most_ready = 0
    steady.start()
    try:
        load.start()
        began = time.monotonic()
        while True:  # until more than MIN_REPLICAS pods are ready
            wanted, ready = replicas(autoscaled)
            most_ready = max(most_ready, ready)
            if wanted > MIN_REPLICAS:
                timeline.setdefault("HPA asked for more pods", time.monotonic() - began)
            if ready > MIN_REPLICAS:
                timeline["scaled out (ready pods above 2)"] = time.monotonic() - began
                break
            assert time.monotonic() - began < SCALE_OUT_WITHIN, f"no scale-out within {SCALE_OUT_WITHIN}s: {timeline}"
            time.sleep(2)
        load.stop()
        stopped = time.monotonic()
        while True:  # until the HPA asked for MIN_REPLICAS again and the extra pods are gone
            wanted, ready = replicas(autoscaled)
            most_ready = max(most_ready, ready)
            if wanted == MIN_REPLICAS:
                timeline.setdefault("HPA asked for 2 after the load", time.monotonic() - stopped)
                if backend_pods(autoscaled) == MIN_REPLICAS:
                    timeline["back to 2 pods after the load"] = time.monotonic() - stopped
                    break
            assert time.monotonic() - stopped < SCALE_IN_WITHIN, f"no scale-in within {SCALE_IN_WITHIN}s: {timeline}"
            time.sleep(2)
        time.sleep(5)  # traffic after the scale-in, to show it stays whole
    finally:
        load.stop()
        steady.stop()
        load.close()
        steady.close()
    results = [scenarios.Result("load (3 users, closed loop)", load), scenarios.Result("steady (1 user)", steady)]
    for result in results:
        scenarios.check_writes(cluster, result)
        print("\n" + result.report())
    print("  timeline (s): " + ", ".join(f"{event} {seconds:.0f}" for event, seconds in timeline.items()))
    print(f"  most ready backend pods: {most_ready}")
    assert MIN_REPLICAS < most_ready <= MAX_REPLICAS
    for result in results:
        assert result.traffic.failures() == [], result.report()
        assert result.traffic.unexpected() == [], result.traffic.unexpected()[:20]
        assert (result.lost_writes, result.duplicate_writes) == (0, 0)
    assert replicas(autoscaled) == (MIN_REPLICAS, MIN_REPLICAS)
