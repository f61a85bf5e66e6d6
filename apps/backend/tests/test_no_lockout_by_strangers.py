"""Issue 20, items 1 and 2: failures count per (account, client), so a stranger cannot lock
the owner out; the client address comes only from the hop the deployment names; IPv6 is
keyed per /64; a flood of new keys cannot evict a live bucket."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers import new_credentials
from starlette.requests import Request
from todo_api.api.throttle import client_address, client_key
from todo_api.core.config import DEFAULT_TRUSTED_PROXIES, parse_networks
from todo_api.main import create_app
from todo_api.ratelimit import OVERFLOW_KEY, RateLimiter

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
INGRESS = ("10.244.0.7", 5000)  # the Ingress controller's pod, as the chart names it


@pytest.fixture
def make_ingress(db, make_settings):
    """The real app, reached through a trusted Ingress hop (as the chart names it) that
    appends the client's address: returns (app, post(path, body, client_ip))."""
    clients = []

    def make(**overrides):
        values = {"auth_rate_per_address": 1000, "auth_rate_per_account": 5, **overrides}
        app = create_app(
            make_settings(db.url, trusted_proxies="10.244.0.0/16", **values), configure_logs=False
        )
        ingress = TestClient(app, client=INGRESS).__enter__()
        clients.append(ingress)

        def post(path: str, body: dict, client_ip: str):
            return ingress.post(path, json=body, headers={"X-Forwarded-For": client_ip})

        return app, post

    yield make
    for ingress in clients:
        ingress.__exit__(None, None, None)


@pytest.fixture
def behind_ingress(make_ingress):
    return make_ingress(auth_slowdown_per_account=1000)[1]


def test_owner_signs_in_after_15_failures_from_elsewhere(behind_ingress):
    post = behind_ingress
    creds = new_credentials()
    assert post(REGISTER, creds, "198.51.100.1").status_code == 201
    wrong = {**creds, "password": creds["password"] + "x"}
    answers = [post(LOGIN, wrong, "203.0.113.66").status_code for _ in range(15)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}  # the stranger is stopped
    assert post(LOGIN, creds, "198.51.100.1").status_code == 200  # the owner is not


def test_register_attempts_from_a_stranger_do_not_block_the_owner(behind_ingress):
    post = behind_ingress
    taken = new_credentials()
    assert post(REGISTER, taken, "198.51.100.1").status_code == 201
    for _ in range(6):  # a stranger probing (or squatting) the address
        post(REGISTER, taken, "203.0.113.66")
    assert post(REGISTER, taken, "203.0.113.66").status_code == 429
    assert post(REGISTER, taken, "198.51.100.2").status_code == 409  # others get the answer


def test_distributed_failures_slow_the_account_down_but_never_refuse(make_ingress):
    app, post = make_ingress(auth_slowdown_per_account=3)
    creds = new_credentials()
    assert post(REGISTER, creds, "198.51.100.1").status_code == 201
    wrong = {**creds, "password": creds["password"][::-1]}
    for n in range(6):  # six addresses, one failure each
        assert post(LOGIN, wrong, f"203.0.113.{n + 1}").status_code == 401
    attempt = app.state.throttles.account_attempt(
        creds["email"], _request("10.244.0.7", "198.51.100.9")
    )
    assert attempt.delay > 0  # past the per-account threshold: a delay, not a 429
    assert post(LOGIN, creds, "198.51.100.9").status_code == 200


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 4000), "headers": headers})


def test_only_the_named_hop_may_forward_an_address():
    # Nothing trusted by default: a private peer's header is ignored.
    default = parse_networks(DEFAULT_TRUSTED_PROXIES)
    assert client_address(_request("10.1.2.3", "198.51.100.7"), default) == "10.1.2.3"
    assert client_address(_request("192.168.49.1", "6.6.6.6"), default) == "192.168.49.1"
    # The named Ingress hop forwards; a client behind a private hop of its own keeps its
    # own address instead of merging with everyone behind that hop.
    ingress = parse_networks("10.244.0.0/16")
    assert client_address(_request("10.244.0.7", "192.168.49.1"), ingress) == "192.168.49.1"
    assert client_address(_request("10.244.0.7", "6.6.6.6, 192.168.49.1"), ingress) == (
        "192.168.49.1"
    )
    assert client_address(_request("10.0.0.9", "198.51.100.7"), ingress) == "10.0.0.9"


def test_ipv6_clients_are_keyed_by_their_64():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert client_key("198.51.100.7") == "198.51.100.7"


def test_a_flood_of_new_keys_cannot_evict_a_live_bucket():
    now = [0.0]
    limiter = RateLimiter(2, 60, max_keys=100, clock=lambda: now[0])
    assert limiter.take("victim-attacker") == 0
    assert limiter.take("victim-attacker") == 0
    assert limiter.take("victim-attacker") > 0  # exhausted
    for n in range(10_000):  # a sweep of fresh addresses
        limiter.take(f"sweep-{n}")
    assert limiter.take("victim-attacker") > 0  # still exhausted: not evicted
    assert len(limiter._buckets) <= 101  # the table stays bounded (+ the overflow bucket)
    assert OVERFLOW_KEY in limiter._buckets  # newcomers shared one bucket meanwhile
    now[0] += 61  # a window later the idle buckets are full and make room again
    assert limiter.take("newcomer") == 0 and "newcomer" in limiter._buckets
