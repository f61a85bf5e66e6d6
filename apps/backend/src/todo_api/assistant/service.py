"""One chat turn: call the model, run the tool calls it asks for, repeat, persist everything.

Neither a database connection nor a worker thread is held while the model is being called
(the HTTP call is async; database steps run briefly in the thread pool): each round that the
model answered is written (messages + the task changes its tool calls made) in one short
transaction. If the model fails in round one, nothing is stored and the client gets 502/504;
if it fails later, the rounds that already happened stay, consistent with their effects.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..models import Conversation, ConversationMessage
from ..schemas import AssistantAction
from .openai_client import ChatCompletionsClient, UpstreamError, UpstreamTimeout
from .tools import TOOLS, execute

log = logging.getLogger("todo_api.assistant")

MAX_TOOL_ROUNDS = 5
MAX_HISTORY_MESSAGES = 40
GAVE_UP_REPLY = "Sorry, I could not finish that request. Please try again with a simpler request."

SYSTEM_PROMPT = """\
You are the assistant inside a to-do list app. You help the user manage their own tasks.
Today is {today} ({weekday}). Dates are ISO YYYY-MM-DD; resolve words like "tomorrow" yourself.
Use the tools to read and change tasks. Never guess a task id: call list_tasks when you need one.
Task priority is low, medium or high. After changing something, say briefly what you did.
Answer in the language the user writes in, in one to three short sentences."""


class ConversationNotFound(Exception):
    pass


@dataclass
class ChatResult:
    conversation_id: uuid.UUID
    reply: str
    actions: list[AssistantAction] = field(default_factory=list)


def _system_message() -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    return {
        "role": "system",
        "content": SYSTEM_PROMPT.format(today=today.isoformat(), weekday=today.strftime("%A")),
    }


def _trim(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The most recent messages, starting at a user message so no tool result is orphaned."""
    recent = history[-MAX_HISTORY_MESSAGES:]
    for index, message in enumerate(recent):
        if message.get("role") == "user":
            return recent[index:]
    return recent[-1:]


def _clean_assistant_message(message: dict[str, Any]) -> dict[str, Any]:
    """Keep only the wire fields we replay later."""
    clean: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        calls.append(
            {
                "id": str(call.get("id") or ""),
                "type": "function",
                "function": {
                    "name": str(function.get("name") or ""),
                    "arguments": str(function.get("arguments") or ""),
                },
            }
        )
    if calls:
        clean["tool_calls"] = calls
    return clean


def _load(
    session: Session, user_id: int, conversation_id: uuid.UUID | None
) -> tuple[list[dict[str, Any]], int]:
    if conversation_id is None:
        return [], 0
    conversation = session.scalars(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    ).one_or_none()
    if conversation is None:
        raise ConversationNotFound
    rows = session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation_id)
        .order_by(ConversationMessage.position, ConversationMessage.id)
    ).all()
    return [row.payload for row in rows], (rows[-1].position + 1 if rows else 0)


def _store(
    session: Session, conversation_id: uuid.UUID, position: int, messages: list[dict[str, Any]]
) -> int:
    for message in messages:
        session.add(
            ConversationMessage(
                conversation_id=conversation_id,
                position=position,
                role=message["role"],
                payload=message,
            )
        )
        position += 1
    return position


def _load_and_release(
    session: Session, user_id: int, conversation_id: uuid.UUID | None
) -> tuple[list[dict[str, Any]], int]:
    try:
        return _load(session, user_id, conversation_id)
    finally:
        session.close()  # no connection (and no transaction) held while the model thinks


def _apply_round(
    session: Session,
    user_id: int,
    conversation_id: uuid.UUID | None,
    position: int,
    pending: list[dict[str, Any]],
    assistant: dict[str, Any],
) -> tuple[uuid.UUID, int, list[AssistantAction]]:
    """One answered round in one transaction: the messages, and the task changes its tool
    calls make (each call's result is appended to `pending` for the model to read)."""
    actions: list[AssistantAction] = []
    try:
        if conversation_id is None:
            conversation = Conversation(user_id=user_id)
            session.add(conversation)
            session.flush()
            conversation_id = conversation.id
        else:
            session.execute(
                Conversation.__table__.update()
                .where(Conversation.id == conversation_id)
                .values(updated_at=func.now())
            )
        for call in assistant.get("tool_calls", []):
            outcome = execute(
                session, user_id, call["function"]["name"], call["function"]["arguments"]
            )
            if outcome.action is not None:
                actions.append(outcome.action)
            log.info(
                "assistant tool call",
                extra={"tool": call["function"]["name"], "ok": bool(outcome.result.get("ok"))},
            )
            pending.append(
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": json.dumps(outcome.result, ensure_ascii=False),
                }
            )
        position = _store(session, conversation_id, position, pending)
        session.commit()
        return conversation_id, position, actions
    finally:
        session.close()


async def chat(
    session: Session,
    client: ChatCompletionsClient,
    user_id: int,
    message: str,
    conversation_id: uuid.UUID | None,
) -> ChatResult:
    """Database steps run in the thread pool, briefly; waiting for the model holds neither a
    thread nor a connection (the HTTP call is async)."""
    history, position = await run_in_threadpool(
        _load_and_release, session, user_id, conversation_id
    )

    pending: list[dict[str, Any]] = [{"role": "user", "content": message}]
    actions: list[AssistantAction] = []

    # One chat turn may take several model calls; the whole turn gets twice the per-call
    # timeout (30 s -> 60 s, the Ingress' default read timeout), so it never runs on unseen.
    deadline = time.monotonic() + 2 * client.timeout_seconds
    for round_number in range(1, MAX_TOOL_ROUNDS + 1):
        remaining = min(client.timeout_seconds, deadline - time.monotonic())
        if remaining <= 0:
            raise UpstreamTimeout("The assistant service did not answer in time.")
        answer = await client.complete(
            [_system_message(), *_trim(history + pending)], TOOLS, remaining
        )
        assistant = _clean_assistant_message(answer)
        pending.append(assistant)
        conversation_id, position, done = await run_in_threadpool(
            _apply_round, session, user_id, conversation_id, position, pending, assistant
        )
        actions.extend(done)
        history.extend(pending)
        pending = []

        if "tool_calls" not in assistant:
            return ChatResult(conversation_id, assistant.get("content") or "", actions)
        log.debug("assistant round done", extra={"round": round_number})

    final = {"role": "assistant", "content": GAVE_UP_REPLY}
    await run_in_threadpool(_store_and_commit, session, conversation_id, position, [final])
    return ChatResult(conversation_id, GAVE_UP_REPLY, actions)


def _store_and_commit(
    session: Session, conversation_id: uuid.UUID, position: int, messages: list[dict[str, Any]]
) -> None:
    try:
        _store(session, conversation_id, position, messages)
        session.commit()
    finally:
        session.close()


__all__ = ["ChatResult", "ConversationNotFound", "UpstreamError", "chat"]
