"""Issue 20, item 5: the assistant's cost has a ceiling. At most 10 tool calls run per model
answer and 20 per turn (the rest are answered to the model as refused); tokens are counted
per user and day in the database (so restarts, replicas and workers share the count) under a
global daily ceiling, and the user is told plainly when a budget is spent.

Against fake_openai.py (the OpenAI wire format), hence the _fake_openai names."""

from __future__ import annotations

import json

import pytest
from helpers import sign_up
from todo_api.assistant.service import MAX_TOOL_CALLS_PER_ANSWER, MAX_TOOL_CALLS_PER_TURN

CHAT = "/api/v1/assistant/chat"
TASKS = "/api/v1/tasks"


@pytest.fixture
def make_ai(db, make_client, assistant_settings):
    def make(**overrides):
        return make_client(db.url, **{**assistant_settings, **overrides})

    return make


def _adds(count: int, start: int = 0) -> dict:
    return {
        "tool_calls": [
            {"name": "add_task", "arguments": {"title": f"task {n}"}}
            for n in range(start, start + count)
        ]
    }


def test_one_answer_asking_for_300_adds_runs_10_fake_openai(make_ai, fake):
    ai = make_ai()
    _, user = sign_up(ai)
    fake.script(_adds(300), {"content": "Added what I could."})
    body = ai.post(CHAT, json={"message": "add 300 tasks"}, headers=user).json()
    assert len(body["actions"]) == MAX_TOOL_CALLS_PER_ANSWER == 10
    assert ai.get(TASKS, headers=user).json()["total"] == 10
    replayed = fake.requests[1]["messages"]
    assert replayed[1]["role"] == "user"  # the turn's start is still in the replay
    asked = [m for m in replayed if m.get("tool_calls")]
    assert len(asked[0]["tool_calls"]) == 10  # only the calls that ran are stored
    results = [json.loads(m["content"]) for m in replayed if m["role"] == "tool"]
    assert len(results) == 10 and all(r["ok"] for r in results)
    assert "290 more calls did not run" in results[-1]["refused"]  # the model is told


def test_a_turn_runs_at_most_20_tool_calls_fake_openai(make_ai, fake):
    ai = make_ai()
    _, user = sign_up(ai)
    fake.script(_adds(10), _adds(10, 10), _adds(10, 20), {"content": "Done."})
    body = ai.post(CHAT, json={"message": "add 30 tasks"}, headers=user).json()
    assert len(body["actions"]) == MAX_TOOL_CALLS_PER_TURN == 20
    assert ai.get(TASKS, headers=user).json()["total"] == 20
    third_round = [
        json.loads(m["content"]) for m in fake.requests[3]["messages"] if m["role"] == "tool"
    ][-10:]
    assert all(not r["ok"] and r["error"].startswith("refused") for r in third_round)


def test_the_users_daily_token_budget_is_kept_in_the_database_fake_openai(make_ai, fake):
    first = make_ai(assistant_tokens_per_user_per_day=1000)
    _, user = sign_up(first)
    fake.script({"content": "Hi.", "usage": {"total_tokens": 1200}})
    assert first.post(CHAT, json={"message": "hello"}, headers=user).status_code == 200
    # Another process (a restart, a replica, another worker) sees the same count.
    second = make_ai(assistant_tokens_per_user_per_day=1000)
    refused = second.post(CHAT, json={"message": "hello again"}, headers=user)
    assert refused.status_code == 429
    assert "budget for today is spent" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 86_400
    assert len(fake.requests) == 1  # no model call for the refused turn
    # Another user still has a budget of their own.
    _, other = sign_up(second)
    fake.script({"content": "Hello."})
    assert second.post(CHAT, json={"message": "hi"}, headers=other).status_code == 200


def test_the_global_daily_ceiling_holds_for_fresh_accounts_fake_openai(make_ai, fake):
    ai = make_ai(assistant_tokens_per_day=500)
    _, user = sign_up(ai)
    fake.script({"content": "Hi.", "usage": {"total_tokens": 600}})
    assert ai.post(CHAT, json={"message": "hello"}, headers=user).status_code == 200
    _, fresh = sign_up(ai)  # a new account does not bring a new budget for everyone
    refused = ai.post(CHAT, json={"message": "hello"}, headers=fresh)
    assert refused.status_code == 503
    assert "budget for today" in refused.json()["detail"]
    assert "retry-after" in refused.headers


def test_a_budget_spent_mid_turn_stops_the_turn_and_says_so_fake_openai(make_ai, fake):
    ai = make_ai(assistant_tokens_per_user_per_day=1000)
    _, user = sign_up(ai)
    fake.script({**_adds(1), "usage": {"total_tokens": 1500}}, {"content": "never asked"})
    body = ai.post(CHAT, json={"message": "add one"}, headers=user).json()
    assert len(body["actions"]) == 1  # the round that happened stays
    assert "budget for today is spent" in body["reply"] and body["error"]
    assert len(fake.requests) == 1
