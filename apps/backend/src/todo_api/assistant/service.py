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
At most MAX_TOOL_CALLS_PER_ANSWER tool calls of one model answer and MAX_TOOL_CALLS_PER_TURN
of one turn run (the rest are answered to the model as refused), and the daily token
budgets (budget.py) are checked before every model call.
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
from . import budget
from .budget import Budgets, BudgetSpent
from .openai_client import ChatCompletionsClient, ContextTooLong, UpstreamError, UpstreamTimeout
from .tools import TOOLS, ToolOutcome, execute

log = logging.getLogger("todo_api.assistant")

MAX_TOOL_ROUNDS = 5
# One model answer asking for hundreds of add_task calls must not create hundreds of tasks.
MAX_TOOL_CALLS_PER_ANSWER = 10
MAX_TOOL_CALLS_PER_TURN = 20
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
    session: Session, user_id: int, conversation_id: uuid.UUID | None, budgets: Budgets
) -> tuple[list[dict[str, Any]], int]:
    try:
        budget.check(session, user_id, budgets)  # BudgetSpent: no model call at all
        return _load(session, user_id, conversation_id)
    finally:
        session.close()  # no connection (and no transaction) held while the model thinks


def _cap_calls(assistant: dict[str, Any]) -> int:
    """Keeps the first MAX_TOOL_CALLS_PER_ANSWER tool calls of a model answer and returns how
    many were dropped. Dropped calls are neither run nor stored: every stored call needs a
    stored result, and hundreds of them would push the turn's own start out of the replayed
    history. The model reads the refusal in the last kept call's result instead."""
    calls = assistant.get("tool_calls", [])
    dropped = max(0, len(calls) - MAX_TOOL_CALLS_PER_ANSWER)
    if dropped:
        assistant["tool_calls"] = calls[:MAX_TOOL_CALLS_PER_ANSWER]
    return dropped


_REFUSED = (
    "refused: at most {answer} tool calls run per answer and {turn} per message; {what} "
    "Tell the user what was done and that they can ask for the rest."
)


def _refusal(what: str) -> str:
    return _REFUSED.format(
        answer=MAX_TOOL_CALLS_PER_ANSWER, turn=MAX_TOOL_CALLS_PER_TURN, what=what
    )


@dataclass
class RoundResult:
    conversation_id: uuid.UUID
    position: int
    actions: list[AssistantAction]
    executed: int  # tool calls that ran
    spent: BudgetSpent | None  # a budget ran out with this round: no further model call


def _apply_round(
    session: Session,
    user_id: int,
    conversation_id: uuid.UUID | None,
    position: int,
    pending: list[dict[str, Any]],
    assistant: dict[str, Any],
    tokens: int,
    executed_in_turn: int,
    dropped: int,
    budgets: Budgets,
) -> RoundResult:
    """One answered round in one transaction: the messages, the tokens the answer cost, and
    the task changes its tool calls make (each call's result is appended to `pending` for
    the model to read; calls beyond the caps are answered as refused, not run)."""
    actions: list[AssistantAction] = []
    executed = 0
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
        budget.record(session, user_id, tokens)
        calls = assistant.get("tool_calls", [])
        for index, call in enumerate(calls):
            if executed_in_turn + executed >= MAX_TOOL_CALLS_PER_TURN:
                outcome = ToolOutcome({"ok": False, "error": _refusal("this one did not run.")})
            else:
                outcome = execute(
                    session, user_id, call["function"]["name"], call["function"]["arguments"]
                )
                executed += 1
            if outcome.action is not None:
                actions.append(outcome.action)
            log.info(
                "assistant tool call",
                extra={"tool": call["function"]["name"], "ok": bool(outcome.result.get("ok"))},
            )
            result = outcome.result
            if dropped and index == len(calls) - 1:
                result = {**result, "refused": _refusal(f"{dropped} more calls did not run.")}
            pending.append(
                {"role": "tool", "tool_call_id": call["id"], "content": _tool_content(result)}
            )
        position = _store(session, conversation_id, position, pending)
        spent = None
        if "tool_calls" in assistant:  # the model would be called again
            try:
                budget.check(session, user_id, budgets)
            except BudgetSpent as exc:
                spent = exc
        try:
            session.commit()
        except IntegrityError:
            # (conversation, position) taken: a concurrent turn got there first. This round,
            # its task changes included, is rolled back as a whole.
            session.rollback()
            raise ConversationBusy from None
        return RoundResult(conversation_id, position, actions, executed, spent)
    finally:
        session.close()


async def chat(
    session: Session,
    client: ChatCompletionsClient,
    user_id: int,
    message: str,
    conversation_id: uuid.UUID | None,
    budgets: Budgets,
) -> ChatResult:
    """Database steps run in the thread pool, briefly; waiting for the model holds neither a
    thread nor a connection (the HTTP call is async). BudgetSpent before any model call."""
    history, position = await run_in_threadpool(
        _load_and_release, session, user_id, conversation_id, budgets
    )
    turn = _Turn(conversation_id, history, position, message, budgets)
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
    budgets: Budgets
    actions: list[AssistantAction] = field(default_factory=list)
    rounds_stored: int = 0
    tool_calls_run: int = 0

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
                completion = await client.complete(
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
            assistant = _clean_assistant_message(completion.message)
            dropped = _cap_calls(assistant)
            pending.append(assistant)
            done = await run_in_threadpool(
                _apply_round,
                session,
                user_id,
                self.conversation_id,
                self.position,
                pending,
                assistant,
                completion.tokens,
                self.tool_calls_run,
                dropped,
                self.budgets,
            )
            self.conversation_id, self.position = done.conversation_id, done.position
            self.rounds_stored += 1
            self.tool_calls_run += done.executed
            self.actions.extend(done.actions)
            self.history.extend(pending)
            pending = []

            if "tool_calls" not in assistant:
                return ChatResult(
                    self.conversation_id, assistant.get("content") or "", self.actions
                )
            if done.spent is not None:  # the user is told plainly, in the reply itself
                return await self._finish(session, done.spent.message, error=done.spent.message)
            log.debug("assistant round done", extra={"round": round_number})

        return await self._finish(session, GAVE_UP_REPLY)

    async def _finish(self, session: Session, reply: str, error: str | None = None) -> ChatResult:
        """Ends the turn with a reply of ours (stored, so the history stays well-formed)."""
        assert self.conversation_id is not None
        final = {"role": "assistant", "content": reply}
        await run_in_threadpool(
            _store_and_commit, session, self.conversation_id, self.position, [final]
        )
        return ChatResult(self.conversation_id, reply, self.actions, error)


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


__all__ = [
    "BudgetSpent",
    "Budgets",
    "ChatResult",
    "ConversationBusy",
    "ConversationNotFound",
    "UpstreamError",
    "chat",
]
