"""The assistant against a local server speaking the OpenAI Chat Completions wire format
(fake_openai.py; the only double in these tests, hence the _fake_openai names)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid

import pytest
from helpers import sign_up
from todo_api.assistant.service import GAVE_UP_REPLY, MAX_TOOL_ROUNDS

CHAT = "/api/v1/assistant/chat"


@pytest.fixture
def ai(db, make_client, assistant_settings):
    return make_client(db.url, **assistant_settings)


def _tool_messages(request_body):
    return [m for m in request_body["messages"] if m["role"] == "tool"]


def test_chat_without_api_key_is_503_not_configured(client, user):
    response = client.post(CHAT, json={"message": "hello"}, headers=user)
    assert response.status_code == 503
    assert "not configured" in response.json()["detail"]
    # Everything else still works.
    assert client.post("/api/v1/tasks", json={"title": "x"}, headers=user).status_code == 201


def test_chat_needs_a_session_fake_openai(ai, fake):
    assert ai.post(CHAT, json={"message": "hello"}).status_code == 401
    assert fake.requests == []


def test_plain_reply_fake_openai(ai, fake):
    _, user = sign_up(ai)
    fake.script({"content": "Hello! How can I help?"})
    response = ai.post(CHAT, json={"message": "hi there"}, headers=user)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"] == "Hello! How can I help?"
    assert body["actions"] == []
    uuid.UUID(body["conversation_id"])

    sent = fake.requests[0]
    assert fake.headers[0]["authorization"] == f"Bearer {fake.api_key}"
    assert sent["model"] == "gpt-test-mini"
    assert sent["messages"][0]["role"] == "system"
    assert dt.datetime.now(dt.UTC).date().isoformat() in sent["messages"][0]["content"]
    assert sent["messages"][-1] == {"role": "user", "content": "hi there"}
    names = {tool["function"]["name"] for tool in sent["tools"]}
    assert names == {"add_task", "list_tasks", "update_task", "complete_task", "delete_task"}


def test_add_task_by_tool_call_fake_openai(ai, fake):
    _, user = sign_up(ai)
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    fake.script(
        {
            "tool_calls": [
                {
                    "name": "add_task",
                    "arguments": {"title": "buy milk", "priority": "high", "due_date": tomorrow},
                }
            ]
        },
        {"content": "Added 'buy milk' for tomorrow."},
    )
    response = ai.post(CHAT, json={"message": "add buy milk tomorrow, high priority"}, headers=user)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"] == "Added 'buy milk' for tomorrow."
    [action] = body["actions"]
    assert action["type"] == "created"
    assert (action["task"]["title"], action["task"]["priority"], action["task"]["due_date"]) == (
        "buy milk",
        "high",
        tomorrow,
    )
    tasks = ai.get("/api/v1/tasks", headers=user).json()["items"]
    assert [t["id"] for t in tasks] == [action["task"]["id"]]

    # Round two carried the assistant's tool call and our result back to the model.
    second = fake.requests[1]["messages"]
    call = second[-2]["tool_calls"][0]
    assert second[-2]["role"] == "assistant" and call["function"]["name"] == "add_task"
    [tool_message] = _tool_messages(fake.requests[1])
    assert tool_message["tool_call_id"] == call["id"]
    result = json.loads(tool_message["content"])
    assert result["ok"] is True and result["task"]["title"] == "buy milk"


def test_list_update_complete_delete_in_one_turn_fake_openai(ai, fake):
    _, user = sign_up(ai)
    milk = ai.post("/api/v1/tasks", json={"title": "milk"}, headers=user).json()
    bread = ai.post("/api/v1/tasks", json={"title": "bread"}, headers=user).json()
    eggs = ai.post("/api/v1/tasks", json={"title": "eggs"}, headers=user).json()
    fake.script(
        {"tool_calls": [{"name": "list_tasks", "arguments": {"status": "pending"}}]},
        {
            "tool_calls": [  # parallel tool calls in one message
                {"name": "complete_task", "arguments": {"task_id": milk["id"]}},
                {"name": "update_task", "arguments": {"task_id": bread["id"], "priority": "low"}},
                {"name": "delete_task", "arguments": {"task_id": eggs["id"]}},
            ]
        },
        {"content": "Done."},
    )
    response = ai.post(CHAT, json={"message": "tidy up my list"}, headers=user)
    assert response.status_code == 200, response.text
    actions = response.json()["actions"]
    assert [(a["type"], a["task"]["id"]) for a in actions] == [
        ("updated", milk["id"]),
        ("updated", bread["id"]),
        ("deleted", eggs["id"]),
    ]
    listed = json.loads(_tool_messages(fake.requests[1])[0]["content"])
    assert {t["title"] for t in listed["tasks"]} == {"milk", "bread", "eggs"}
    assert ai.get(f"/api/v1/tasks/{milk['id']}", headers=user).json()["completed"] is True
    assert ai.get(f"/api/v1/tasks/{bread['id']}", headers=user).json()["priority"] == "low"
    assert ai.get(f"/api/v1/tasks/{eggs['id']}", headers=user).status_code == 404


def test_tool_call_on_another_users_task_is_refused_fake_openai(ai, fake):
    _, alice = sign_up(ai)
    _, mallory = sign_up(ai)
    secret_task = ai.post("/api/v1/tasks", json={"title": "alice only"}, headers=alice).json()
    fake.script(
        {
            "tool_calls": [
                {"name": "complete_task", "arguments": {"task_id": secret_task["id"]}},
                {
                    "name": "update_task",
                    "arguments": {"task_id": secret_task["id"], "title": "pwned"},
                },
                {"name": "delete_task", "arguments": {"task_id": secret_task["id"]}},
            ]
        },
        {"tool_calls": [{"name": "list_tasks", "arguments": {"q": "alice"}}]},
        {"content": "I could not find that task."},
    )
    response = ai.post(CHAT, json={"message": f"finish task {secret_task['id']}"}, headers=mallory)
    assert response.status_code == 200, response.text
    assert response.json()["actions"] == []
    for message in _tool_messages(fake.requests[1]):
        assert json.loads(message["content"]) == {
            "ok": False,
            "error": f"task {secret_task['id']} not found",
        }
    listed = json.loads(_tool_messages(fake.requests[2])[-1]["content"])
    assert listed["tasks"] == [] and listed["total"] == 0
    assert ai.get(f"/api/v1/tasks/{secret_task['id']}", headers=alice).json() == secret_task


def test_bad_tool_arguments_go_back_to_the_model_fake_openai(ai, fake):
    _, user = sign_up(ai)
    fake.script(
        {
            "tool_calls": [
                {"name": "add_task", "arguments": "{not json"},
                {"name": "add_task", "arguments": {"title": "", "priority": "urgent"}},
                {"name": "format_disk", "arguments": {}},
            ]
        },
        {"content": "Sorry, something went wrong."},
    )
    response = ai.post(CHAT, json={"message": "add"}, headers=user)
    assert response.status_code == 200
    results = [json.loads(m["content"]) for m in _tool_messages(fake.requests[1])]
    assert results[0] == {"ok": False, "error": "arguments are not a JSON object"}
    assert (
        results[1]["ok"] is False
        and "title" in results[1]["error"]
        and "priority" in results[1]["error"]
    )
    assert results[2] == {"ok": False, "error": "unknown tool 'format_disk'"}
    assert ai.get("/api/v1/tasks", headers=user).json()["total"] == 0


def test_update_tool_applies_the_apis_update_rules_fake_openai(ai, fake):
    """update_task's arguments are the API's TaskUpdate (plus the id): the same "no null" rule,
    strict boolean and date text; null clears an optional field as PATCH does."""
    _, user = sign_up(ai)
    task = ai.post(
        "/api/v1/tasks", json={"title": "milk", "description": "2 litres"}, headers=user
    ).json()
    fake.script(
        {
            "tool_calls": [
                {
                    "name": "update_task",
                    "arguments": {"task_id": task["id"], "title": None, "completed": "yes"},
                },
                {"name": "update_task", "arguments": {"task_id": task["id"], "due_date": 20261231}},
                {"name": "update_task", "arguments": {"task_id": task["id"], "description": None}},
            ]
        },
        {"content": "Done."},
    )
    response = ai.post(CHAT, json={"message": "tidy milk"}, headers=user)
    assert response.status_code == 200, response.text
    refused, bad_date, cleared = (
        json.loads(m["content"]) for m in _tool_messages(fake.requests[1])
    )
    assert refused["ok"] is False and "title" in refused["error"] and "completed" in refused["error"]
    assert bad_date["ok"] is False and "due_date" in bad_date["error"]
    assert cleared["ok"] is True and cleared["task"]["description"] is None
    after = ai.get(f"/api/v1/tasks/{task['id']}", headers=user).json()
    assert (after["title"], after["completed"], after["due_date"]) == ("milk", False, None)


def test_conversation_persists_across_replicas_fake_openai(
    ai, fake, db, make_client, assistant_settings
):
    _, user = sign_up(ai)
    fake.script({"content": "Noted: you like tea."})
    first = ai.post(CHAT, json={"message": "I like tea"}, headers=user).json()

    other_replica = make_client(db.url, **assistant_settings)
    # Same AUTH_SECRET (one Secret for all replicas), so the token works there too.
    fake.script({"content": "You like tea."})
    second = other_replica.post(
        CHAT,
        json={"message": "what do I like?", "conversation_id": first["conversation_id"]},
        headers=user,
    )
    assert second.status_code == 200, second.text
    assert second.json()["conversation_id"] == first["conversation_id"]
    replayed = [(m["role"], m.get("content")) for m in fake.requests[1]["messages"][1:]]
    assert replayed == [
        ("user", "I like tea"),
        ("assistant", "Noted: you like tea."),
        ("user", "what do I like?"),
    ]


def test_someone_elses_conversation_is_404_fake_openai(ai, fake):
    _, alice = sign_up(ai)
    _, bob = sign_up(ai)
    fake.script({"content": "hi alice"})
    conversation = ai.post(CHAT, json={"message": "hi"}, headers=alice).json()["conversation_id"]
    response = ai.post(CHAT, json={"message": "hi", "conversation_id": conversation}, headers=bob)
    assert response.status_code == 404
    response = ai.post(
        CHAT, json={"message": "hi", "conversation_id": str(uuid.uuid4())}, headers=bob
    )
    assert response.status_code == 404
    assert len(fake.requests) == 1


def test_chat_validation_names_the_field(ai):
    _, user = sign_up(ai)
    for body, field in [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "x" * 4001}, "message"),
        ({"message": "hi", "conversation_id": "not-a-uuid"}, "conversation_id"),
    ]:
        response = ai.post(CHAT, json=body, headers=user)
        assert response.status_code == 422
        assert field in [item["loc"][-1] for item in response.json()["detail"]]


def test_upstream_500_is_502_and_changes_nothing_fake_openai(ai, fake):
    _, user = sign_up(ai)
    fake.script({"status": 500})
    response = ai.post(CHAT, json={"message": "add milk"}, headers=user)
    assert response.status_code == 502
    assert "HTTP 500" in response.json()["detail"]
    # A retry starts cleanly: nothing half-stored from the failed turn.
    fake.script({"content": "ok"})
    retry = ai.post(CHAT, json={"message": "again"}, headers=user)
    assert [m["role"] for m in fake.requests[-1]["messages"]] == ["system", "user"]
    assert retry.status_code == 200


def test_upstream_failure_after_a_tool_round_keeps_what_was_done_fake_openai(ai, fake):
    _, user = sign_up(ai)
    fake.script(
        {"tool_calls": [{"name": "add_task", "arguments": {"title": "milk"}}]},
        {"status": 503},
    )
    response = ai.post(CHAT, json={"message": "add milk"}, headers=user)
    # What was done comes back (so the user does not resend and duplicate it), with the error.
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(a["type"], a["task"]["title"]) for a in body["actions"]] == [("created", "milk")]
    assert "HTTP 503" in body["error"] and "HTTP 503" in body["reply"]
    assert [t["title"] for t in ai.get("/api/v1/tasks", headers=user).json()["items"]] == ["milk"]
    # The conversation it names holds the stored round and goes on from there.
    fake.script({"content": "ok"})
    follow_up = {"message": "thanks", "conversation_id": body["conversation_id"]}
    assert ai.post(CHAT, json=follow_up, headers=user).status_code == 200
    roles = [m["role"] for m in fake.requests[-1]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]


def test_upstream_rejects_key_is_502_fake_openai(db, make_client, fake, assistant_settings):
    client = make_client(db.url, **{**assistant_settings, "openai_api_key": "sk-wrong"})
    _, user = sign_up(client)
    response = client.post(CHAT, json={"message": "hi"}, headers=user)
    assert response.status_code == 502
    assert "API key" in response.json()["detail"]
    assert "sk-wrong" not in response.text


def test_upstream_timeout_is_504_fake_openai(ai, fake):
    _, user = sign_up(ai)
    fake.script({"delay": 10, "content": "too late"})
    start = time.monotonic()
    response = ai.post(CHAT, json={"message": "hi"}, headers=user)
    elapsed = time.monotonic() - start
    assert response.status_code == 504
    assert "did not answer in time" in response.json()["detail"]
    assert elapsed < 5, elapsed  # OPENAI_TIMEOUT_SECONDS=2 here, not the 10 s the server takes


def test_upstream_garbage_is_502_fake_openai(ai, fake):
    _, user = sign_up(ai)
    fake.script({"raw": "<html>bad gateway</html>"})
    assert ai.post(CHAT, json={"message": "hi"}, headers=user).status_code == 502
    fake.script({"raw": json.dumps({"choices": []})})
    assert ai.post(CHAT, json={"message": "hi"}, headers=user).status_code == 502


def test_upstream_unreachable_is_502(db, make_client):
    from tools.postgres import free_port

    client = make_client(
        db.url, openai_api_key="k" * 20, openai_base_url=f"http://127.0.0.1:{free_port()}/v1"
    )
    _, user = sign_up(client)
    response = client.post(CHAT, json={"message": "hi"}, headers=user)
    assert response.status_code == 502
    assert "Could not reach" in response.json()["detail"]


def test_endless_tool_calls_stop_after_max_rounds_fake_openai(ai, fake):
    _, user = sign_up(ai)
    fake.script(
        *[{"tool_calls": [{"name": "list_tasks", "arguments": {}}]}] * (MAX_TOOL_ROUNDS + 3)
    )
    response = ai.post(CHAT, json={"message": "loop"}, headers=user)
    assert response.status_code == 200
    assert response.json()["reply"] == GAVE_UP_REPLY
    assert len(fake.requests) == MAX_TOOL_ROUNDS


def test_default_script_used_by_browser_tests_fake_openai(ai, fake):
    _, user = sign_up(ai)
    body = ai.post(CHAT, json={"message": "add water the plants"}, headers=user).json()
    assert body["actions"][0]["task"]["title"] == "water the plants"
    assert body["reply"] == "Done: water the plants."
    body = ai.post(
        CHAT,
        json={"message": "what is left?", "conversation_id": body["conversation_id"]},
        headers=user,
    ).json()
    assert body["reply"] == "Your tasks: water the plants"


def test_whole_turn_is_bounded_fake_openai(ai, fake):
    """Each call answers within OPENAI_TIMEOUT_SECONDS (2 s here), but a turn of many slow
    rounds is cut at twice that, so the client never waits unboundedly. The rounds that were
    stored come back with the timeout as the error (a timeout in round one is a plain 504,
    see test_upstream_timeout_is_504_fake_openai)."""
    _, user = sign_up(ai)
    slow_round = {"delay": 1.5, "tool_calls": [{"name": "list_tasks", "arguments": {}}]}
    fake.script(*[slow_round] * 4, {"content": "finally"})
    start = time.monotonic()
    response = ai.post(CHAT, json={"message": "slow"}, headers=user)
    elapsed = time.monotonic() - start
    assert response.status_code == 200, response.text
    assert "did not answer in time" in response.json()["error"]
    assert elapsed < 5.5, elapsed


def test_tool_schemas_are_generated_from_the_argument_models():
    from todo_api.assistant.tools import TOOL_TABLE, TOOLS
    from todo_api.models import PRIORITIES, TITLE_MAX

    by_name = {tool["function"]["name"]: tool["function"] for tool in TOOLS}
    assert list(by_name) == [tool.name for tool in TOOL_TABLE]
    add = by_name["add_task"]["parameters"]
    assert add["required"] == ["title"] and add["additionalProperties"] is False
    # The title's limit, as the API checks it (after stripping whitespace), is in its pattern.
    title = re.compile(add["properties"]["title"]["pattern"])
    assert title.fullmatch(f"  {'x' * TITLE_MAX}  ") and not title.fullmatch("x" * (TITLE_MAX + 1))
    assert add["properties"]["priority"]["enum"] == list(PRIORITIES)
    # Optional fields are offered as "leave it out", never as a nullable type.
    assert by_name["update_task"]["parameters"]["properties"]["priority"] == {
        "enum": list(PRIORITIES),
        "type": "string",
    }
    for function in by_name.values():
        assert "null" not in json.dumps(function["parameters"])
    # update_task is the API's update body plus the task's id: derived, not re-declared.
    from todo_api.schemas import TaskUpdate

    update = by_name["update_task"]["parameters"]["properties"]
    assert list(update) == ["task_id", *TaskUpdate.model_fields]


def test_turns_per_user_are_limited_fake_openai(db, make_client, assistant_settings, fake):
    client = make_client(db.url, **assistant_settings, assistant_turns_per_hour=2)
    _, alice = sign_up(client)
    _, bob = sign_up(client)
    for _ in range(2):
        assert client.post(CHAT, json={"message": "hi"}, headers=alice).status_code == 200
    refused = client.post(CHAT, json={"message": "hi"}, headers=alice)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert len(fake.requests) == 2  # the refused turn cost no model call
    assert client.post(CHAT, json={"message": "hi"}, headers=bob).status_code == 200


def _insert_messages(db, conversation_id: str, count: int, size: int) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool
    from todo_api.core.config import normalise_database_url

    engine = create_engine(normalise_database_url(db.url), poolclass=NullPool)
    with engine.begin() as conn:
        start = conn.execute(
            text("SELECT max(position) + 1 FROM conversation_messages WHERE conversation_id = :c"),
            {"c": conversation_id},
        ).scalar_one()
        for i in range(count):
            role = "user" if i % 2 == 0 else "assistant"
            payload = {"role": role, "content": f"old message {start + i} " + "x" * size}
            conn.execute(
                text(
                    "INSERT INTO conversation_messages (conversation_id, position, role, payload)"
                    " VALUES (:c, :p, :r, CAST(:payload AS jsonb))"
                ),
                {"c": conversation_id, "p": start + i, "r": role, "payload": json.dumps(payload)},
            )
    engine.dispose()


def test_history_is_loaded_newest_first_within_a_size_budget_fake_openai(ai, fake, db):
    from todo_api.assistant.service import HISTORY_BUDGET_CHARS

    _, user = sign_up(ai)
    fake.script({"content": "hello"})
    first = ai.post(CHAT, json={"message": "first"}, headers=user).json()
    # 30 stored messages of ~10 KB each: far over the budget, under the message-count cap.
    _insert_messages(db, first["conversation_id"], 30, 10_000)
    fake.script({"content": "still here"})
    body = {"message": "newest", "conversation_id": first["conversation_id"]}
    assert ai.post(CHAT, json=body, headers=user).status_code == 200
    sent = fake.requests[-1]["messages"]
    replayed = sent[1:-1]
    assert sent[-1] == {"role": "user", "content": "newest"}
    assert 0 < len(json.dumps(replayed)) <= HISTORY_BUDGET_CHARS
    # The newest stored messages, in order (the oldest ones are what was left out).
    assert replayed[-1]["content"].startswith("old message 31 ")
    assert all(m["content"] != "first" for m in replayed)


def test_long_tool_results_are_truncated_fake_openai(ai, fake):
    from todo_api.assistant.service import MAX_TOOL_RESULT_CHARS

    _, user = sign_up(ai)
    for i in range(50):
        body = {"title": f"task {i}", "description": "d" * 2000}
        assert ai.post("/api/v1/tasks", json=body, headers=user).status_code == 201
    fake.script(
        {"tool_calls": [{"name": "list_tasks", "arguments": {}}]},
        {"content": "That is a lot."},
    )
    assert ai.post(CHAT, json={"message": "list"}, headers=user).status_code == 200
    [tool_message] = _tool_messages(fake.requests[1])
    assert len(tool_message["content"]) <= MAX_TOOL_RESULT_CHARS
    result = json.loads(tool_message["content"])  # still JSON the model can read
    assert result["total"] == 50 and 0 < len(result["tasks"]) < 50
    assert "filter" in result["note"]
    assert all(len(t["description"]) < 300 for t in result["tasks"])


def test_context_length_error_starts_a_fresh_conversation_fake_openai(ai, fake):
    _, user = sign_up(ai)
    fake.script({"content": "hello"})
    first = ai.post(CHAT, json={"message": "first"}, headers=user).json()
    too_long = {
        "error": {
            "message": "This model's maximum context length is 128000 tokens.",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    fake.script({"status": 400, "body": too_long}, {"content": "fresh start"})
    response = ai.post(
        CHAT, json={"message": "again", "conversation_id": first["conversation_id"]}, headers=user
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"] == "fresh start"
    assert body["conversation_id"] != first["conversation_id"]
    assert [m["role"] for m in fake.requests[-1]["messages"]] == ["system", "user"]


def test_concurrent_turns_on_one_conversation_do_not_interleave_fake_openai(ai, fake, db):
    import threading

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool
    from todo_api.core.config import normalise_database_url

    _, user = sign_up(ai)
    fake.script({"content": "hello"})
    conversation = ai.post(CHAT, json={"message": "first"}, headers=user).json()["conversation_id"]
    # Both turns read the same history, then wait for the model at the same time.
    fake.script({"delay": 1.0, "content": "A"}, {"delay": 1.0, "content": "B"})
    results: list[int] = []

    def turn(text_: str) -> None:
        body = {"message": text_, "conversation_id": conversation}
        results.append(ai.post(CHAT, json=body, headers=user).status_code)

    threads = [threading.Thread(target=turn, args=(t,)) for t in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [200, 409], results

    engine = create_engine(normalise_database_url(db.url), poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT position, role FROM conversation_messages WHERE conversation_id = :c"
                " ORDER BY position"
            ),
            {"c": conversation},
        ).all()
    engine.dispose()
    assert [r.position for r in rows] == list(range(4))
    assert [r.role for r in rows] == ["user", "assistant", "user", "assistant"]


def test_nul_in_list_tool_query_is_an_error_result_not_a_failure_fake_openai(ai, fake):
    _, user = sign_up(ai)
    fake.script(
        {"tool_calls": [{"name": "list_tasks", "arguments": {"q": "a\u0000b"}}]},
        {"content": "Sorry."},
    )
    response = ai.post(CHAT, json={"message": "find"}, headers=user)
    assert response.status_code == 200, response.text
    [tool_message] = _tool_messages(fake.requests[1])
    result = json.loads(tool_message["content"])
    assert result["ok"] is False and "q" in result["error"]
