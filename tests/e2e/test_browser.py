"""The frontend in a real browser against the real backend and PostgreSQL, behind a proxy
that routes like the Ingress. Each test runs one scenario in tests/e2e/browser/scenarios.mjs.
"""

from __future__ import annotations

import json
import urllib.request

from stack import E2E_ARTIFACTS, Urls


def test_task_flow_sign_up_to_sign_out(scenario) -> None:
    output = scenario("task-flow")
    assert "scenario task-flow: ok" in output
    for name in ("task-page-desktop", "task-page-phone"):
        shot = E2E_ARTIFACTS / f"{name}.png"
        assert shot.exists() and shot.stat().st_size > 10_000, f"{shot} missing or empty"


def test_second_user_sees_none_of_the_first_users_tasks(scenario) -> None:
    assert "scenario isolation: ok" in scenario("isolation")


def test_assistant_panel_fake_openai(scenario, e2e_stack: Urls) -> None:
    assert "scenario assistant-fake-openai: ok" in scenario("assistant-fake-openai")
    # The backend really talked to the (fake) OpenAI server with the user's words and tools.
    control = e2e_stack.fake_openai.removesuffix("/v1") + "/__requests"
    with urllib.request.urlopen(control, timeout=5) as response:  # noqa: S310 (loopback)
        sent = json.load(response)
    user_messages = [m["content"] for body in sent for m in body["messages"] if m.get("role") == "user"]
    assert "add Water the plants" in user_messages
    assert any(tool["function"]["name"] == "add_task" for tool in sent[0].get("tools", []))


def test_assistant_panel_says_not_configured(scenario, e2e_stack: Urls) -> None:
    assert "ok" in scenario("assistant-not-configured", base_url=e2e_stack.app_no_assistant)


def test_errors_a_person_can_act_on(scenario) -> None:
    assert "scenario errors: ok" in scenario("errors")


def test_sign_in_next_cannot_leave_the_origin(scenario) -> None:
    assert "scenario open-redirect: ok" in scenario("open-redirect")


def test_backend_unreachable(scenario, e2e_stack: Urls) -> None:
    output = scenario("backend-unreachable", API_DOWN_URL=e2e_stack.api_down, ALL_DOWN_URL=e2e_stack.all_down)
    assert "scenario backend-unreachable: ok" in output
