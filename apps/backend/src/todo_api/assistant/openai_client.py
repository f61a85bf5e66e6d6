"""A minimal async Chat Completions client over httpx (no SDK): one POST, errors mapped to
502/504.

Neither the API key nor the conversation is logged; failures log the upstream status and
OpenAI's error type only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("todo_api.assistant.openai")

# What an answer without `usage` is counted as (a generous single call).
UNREPORTED_USAGE_TOKENS = 4_000


class UpstreamError(Exception):
    """The assistant service failed; the API answers 502 with this message."""

    status_code = 502

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UpstreamTimeout(UpstreamError):
    status_code = 504


class ContextTooLong(UpstreamError):
    """The conversation no longer fits the model's context window."""


class ChatCompletionsClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.timeout_seconds = timeout_seconds
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        timeout_seconds: float | None = None,
    ) -> Completion:
        """The assistant message of the first choice ({role, content, tool_calls?}) and the
        tokens the call cost (what the daily budgets count)."""
        body = {"model": self.model, "messages": messages, "tools": tools, "tool_choice": "auto"}
        try:
            timeout = (
                httpx.Timeout(timeout_seconds) if timeout_seconds else httpx.USE_CLIENT_DEFAULT
            )
            response = await self._http.post("chat/completions", json=body, timeout=timeout)
        except httpx.TimeoutException:
            log.warning("assistant upstream timed out")
            raise UpstreamTimeout("The assistant service did not answer in time.") from None
        except httpx.HTTPError as exc:
            log.warning("assistant upstream unreachable", extra={"error": type(exc).__name__})
            raise UpstreamError("Could not reach the assistant service.") from None

        if response.status_code >= 400:
            error_type = _error_type(response)
            log.warning(
                "assistant upstream error",
                extra={"upstream_status": response.status_code, "upstream_error": error_type},
            )
            if response.status_code in (401, 403):
                raise UpstreamError("The assistant service rejected the configured API key.")
            if response.status_code == 400 and error_type == "context_length_exceeded":
                raise ContextTooLong("The conversation is too long for the assistant.")
            if response.status_code == 429:
                raise UpstreamError(
                    "The assistant service is busy (rate limited). Try again shortly."
                )
            raise UpstreamError(f"The assistant service failed (HTTP {response.status_code}).")

        try:
            answer = response.json()
            message = answer["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError
        except (ValueError, KeyError, IndexError, TypeError):
            log.warning("assistant upstream sent an unexpected answer")
            raise UpstreamError("The assistant service sent an unexpected answer.") from None
        return Completion(message, _total_tokens(answer))


@dataclass(frozen=True)
class Completion:
    message: dict[str, Any]
    tokens: int


def _total_tokens(answer: dict[str, Any]) -> int:
    """usage.total_tokens; an answer without usage counts as the longest one we allow, so a
    server that leaves it out cannot make the budgets unlimited."""
    usage = answer.get("usage") if isinstance(answer, dict) else None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
        return total
    return UNREPORTED_USAGE_TOKENS


def _error_type(response: httpx.Response) -> str | None:
    """OpenAI's error code if it gives one (the specific "context_length_exceeded"), else
    its type ("invalid_request_error")."""
    try:
        error = response.json().get("error") or {}
        return str(error.get("code") or error.get("type") or "") or None
    except (ValueError, AttributeError):
        return None
