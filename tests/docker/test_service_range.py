"""A dockerd we run drops what its containers send to Kubernetes' Service range past the host
(tools.docker.engine.confine_service_traffic): before kube-proxy has written a node's rules, a
pod's packet to 10.96.0.1 would otherwise leave through the uplink, where in CI's sandbox
something answered it. The minikube tier checks the packet's fate from inside a node."""

from __future__ import annotations

import pytest

from tools.docker import engine

RULE = ["DOCKER-USER", "-d", engine.SERVICE_RANGE, "-j", "DROP"]


def user_rules() -> list[str]:
    listing = engine.run(["iptables", "-S", "DOCKER-USER"]).stdout.splitlines()
    return [line for line in listing if line.startswith("-A ")]


def test_our_daemon_gets_the_rule_once_and_before_the_chains_return() -> None:
    engine.ensure_daemon()
    if not engine.our_daemon():
        assert engine.confine_service_traffic() is False  # someone else's Docker: never changed
        pytest.skip("the answering dockerd is not one tools.docker started")
    engine.run(["iptables", "-D", *RULE], check=False)  # as on a daemon started before the rule
    engine._CONFINED.clear()  # as a new process meets it
    assert engine.ensure_daemon() is False  # already running: only the rule is added
    assert engine.confine_service_traffic() is False  # once
    rules = user_rules()
    assert rules.count(f"-A DOCKER-USER -d {engine.SERVICE_RANGE} -j DROP") == 1, rules
    assert rules.index(f"-A DOCKER-USER -d {engine.SERVICE_RANGE} -j DROP") < rules.index("-A DOCKER-USER -j RETURN")
