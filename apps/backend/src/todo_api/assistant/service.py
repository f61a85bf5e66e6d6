"""One chat turn: call the model, run the tool calls it asks for, repeat, persist everything.

Neither a database connection nor a worker thread is held while the model is being called
(the HTTP call is async; database steps run briefly in the thread pool): each round that the
model answered is written (messages + the task changes its tool calls made) in one short
transaction. If the model fails in round one, nothing is stored and the client gets 502/504;
if it fails later, the rounds that already happened stay, consistent with their effects, and
the client gets them (actions, conversation_id) with an `error` instead of a bare 502.

Cost and memory are bounded: history is loaded newest-first within a size budget, tool
results are capped, a conversation that outgrew the model's context starts afresh, and two
turns racing on one conversation cannot interleave (unique position; the later one is 409).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..models import Conversation, ConversationMessage
from ..schemas import AssistantAction
from .openai_client import ChatCompletionsClient, ContextTooLong, UpstreamError, UpstreamTimeout
from .tools import TOOLS, execute

log = logging.getLogger("todo_api.assistant")

MAX_TOOL_ROUNDS = 5
MAX_HISTORY_MESSAGES = 40
# Characters of stored JSON replayed to the model (~10k tokens): older messages drop out.
HISTORY_BUDGET_CHARS = 40_000
MAX_TOOL_RESULT_CHARS = 8_000
GAVE_UP_REPLY = "Sorry, I could not finish that request. Please try again with a simpler request."
PARTIAL_REPLY = (
    "I could not finish that request ({error}). The changes listed here were made; "
    "check them before you ask again."
)

SYSTEM_PROMPT = """\
You are the assistant inside a to-do list app. You help the user manage their own tasks.
Today is {today} ({weekday}). Dates are ISO YYYY-MM-DD; resolve words like "tomorrow" yourself.
Use the tools to read and change tasks. Never guess a task id: call list_tasks when you need one.
Task priority is low, medium or high. After changing something, say briefly what you did.
Answer in the language the user writes in, in one to three short sentences."""


class ConversationNotFound(Exception):
    pass


class ConversationBusy(Exception):
    """Another turn wrote to the conversation while this one was waiting for the model."""


@dataclass
class ChatResult:
    conversation_id: uuid.UUID
    reply: str
    actions: list[AssistantAction] = field(default_factory=list)
    error: str | None = None


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
    """The newest messages that fit HISTORY_BUDGET_CHARS (oldest first), and the next
    position. Sizes are summed in the database, so an old 100 KB tool result is never even
    loaded."""
    if conversation_id is None:
        return [], 0
    owned = session.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    if owned is None:
        raise ConversationNotFound
    newest = (
        select(ConversationMessage.position, ConversationMessage.payload)
        .where(ConversationMessage.conversation_id == conversation_id)
        .order_by(ConversationMessage.position.desc())
        .limit(MAX_HISTORY_MESSAGES)
        .subquery()
    )
    sized = select(
        newest.c.position,
        newest.c.payload,
        func.sum(func.octet_length(func.cast(newest.c.payload, Text)))
        .over(order_by=newest.c.position.desc())
        .label("running"),
    ).subquery()
    rows = session.execute(
        select(sized.c.position, sized.c.payload)
        .where(sized.c.running <= HISTORY_BUDGET_CHARS)
        .order_by(sized.c.position)
    ).all()
    last = session.scalar(
        select(func.max(ConversationMessage.position)).where(
            ConversationMessage.conversation_id == conversation_id
        )
    )
    return [row.payload for row in rows], (last + 1 if last is not None else 0)


def _tool_content(result: dict[str, Any]) -> str:
    """The tool result as the model reads it, capped (tools keep their own results small;
    this is the backstop that keeps one result from filling the context)."""
    content = json.dumps(result, ensure_ascii=False)
    if len(content) <= MAX_TOOL_RESULT_CHARS:
        return content
    return content[: MAX_TOOL_RESULT_CHARS - 40] + " ... [result truncated]"


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
                    "content": _tool_content(outcome.result),
                }
            )
        position = _store(session, conversation_id, position, pending)
        try:
            session.commit()
        except IntegrityError:
            # (conversation, position) taken: a concurrent turn got there first. This round,
            # its task changes included, is rolled back as a whole.
            session.rollback()
            raise ConversationBusy from None
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
    turn = _Turn(conversation_id, history, position, message)
    try:
        return await turn.run(session, client, user_id)
    except (UpstreamError, ConversationBusy) as exc:
        if not turn.rounds_stored:
            raise
        # Some rounds (and their task changes) are committed: say what was done, so the
        # user does not resend and duplicate them.
        error = exc.message if isinstance(exc, UpstreamError) else _BUSY
        log.warning("assistant turn stopped after stored rounds", extra={"error": error})
        assert turn.conversation_id is not None  # set by the first stored round
        return ChatResult(
            turn.conversation_id, PARTIAL_REPLY.format(error=error), turn.actions, error
        )


_BUSY = "the conversation was changed by another message at the same time"


@dataclass
class _Turn:
    conversation_id: uuid.UUID | None
    history: list[dict[str, Any]]
    position: int
    message: str
    actions: list[AssistantAction] = field(default_factory=list)
    rounds_stored: int = 0

    async def run(
        self, session: Session, client: ChatCompletionsClient, user_id: int
    ) -> ChatResult:
        pending: list[dict[str, Any]] = [{"role": "user", "content": self.message}]
        # One chat turn may take several model calls; the whole turn gets twice the per-call
        # timeout (30 s -> 60 s, the Ingress' default read timeout), so it never runs on unseen.
        deadline = time.monotonic() + 2 * client.timeout_seconds
        for round_number in range(1, MAX_TOOL_ROUNDS + 1):
            remaining = min(client.timeout_seconds, deadline - time.monotonic())
            if remaining <= 0:
                raise UpstreamTimeout("The assistant service did not answer in time.")
            try:
                answer = await client.complete(
                    [_system_message(), *_trim(self.history + pending)], TOOLS, remaining
                )
            except ContextTooLong:
                if round_number > 1 or not self.history:
                    raise
                # The stored conversation no longer fits the model: carry on in a fresh one
                # (the client gets its new conversation_id) rather than fail every turn.
                log.info("conversation outgrew the model's context; starting a fresh one")
                self.conversation_id, self.history, self.position = None, [], 0
                continue
            assistant = _clean_assistant_message(answer)
            pending.append(assistant)
            self.conversation_id, self.position, done = await run_in_threadpool(
                _apply_round,
                session,
                user_id,
                self.conversation_id,
                self.position,
                pending,
                assistant,
            )
            self.rounds_stored += 1
            self.actions.extend(done)
            self.history.extend(pending)
            pending = []

            if "tool_calls" not in assistant:
                return ChatResult(
                    self.conversation_id, assistant.get("content") or "", self.actions
                )
            log.debug("assistant round done", extra={"round": round_number})

        final = {"role": "assistant", "content": GAVE_UP_REPLY}
        assert self.conversation_id is not None
        await run_in_threadpool(
            _store_and_commit, session, self.conversation_id, self.position, [final]
        )
        return ChatResult(self.conversation_id, GAVE_UP_REPLY, self.actions)


def _store_and_commit(
    session: Session, conversation_id: uuid.UUID, position: int, messages: list[dict[str, Any]]
) -> None:
    try:
        _store(session, conversation_id, position, messages)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConversationBusy from None
    finally:
        session.close()


__all__ = ["ChatResult", "ConversationBusy", "ConversationNotFound", "UpstreamError", "chat"]
