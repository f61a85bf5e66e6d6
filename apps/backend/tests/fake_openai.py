"""A local stand-in for the OpenAI Chat Completions API (test double; stdlib only).

It speaks the wire format of POST /v1/chat/completions, answers with scripted steps, and
records every request so tests can check what the backend sent. With no script left it
falls back to a tiny rule-based assistant, which is what the frontend's browser tests use.

Use it from Python:

    with FakeOpenAI(api_key="k") as fake:
        fake.script({"tool_calls": [{"name": "add_task", "arguments": {"title": "milk"}}]},
                    {"content": "Added milk."})
        ... OPENAI_BASE_URL=fake.base_url ...
        fake.requests  # list of recorded request bodies

or standalone (binds loopback only; prints one line "fake-openai listening on <base_url>"):

    python apps/backend/tests/fake_openai.py --port 8099 [--api-key KEY]

and drive it over HTTP: POST /__script (a JSON list of steps), GET /__requests,
POST /__reset.

Steps (dicts):
    {"content": "text"}                                   a final answer
    {"tool_calls": [{"name": n, "arguments": {...}}]}     ask for tool calls (ids generated)
    {"status": 500, "body": {...}}                        an HTTP error
    {"raw": "not json"}                                   a broken 200 body
    any step may carry "delay": seconds (sleep before answering; use it for timeouts)
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


def _completion(
    message: dict[str, Any], model: str, usage: dict[str, int] | None = None
) -> dict[str, Any]:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": f"chatcmpl-fake{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage or {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def tool_call_message(calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call.get("id") or f"call_fake{next(_ids)}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": call["arguments"]
                    if isinstance(call.get("arguments"), str)
                    else json.dumps(call.get("arguments", {})),
                },
            }
            for call in calls
        ],
    }


def default_reply(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A deterministic toy assistant for browser tests that need no script."""
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        done = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            try:
                result = json.loads(message.get("content") or "{}")
            except ValueError:
                result = {}
            if result.get("task"):
                done.append(result["task"].get("title", ""))
            elif "tasks" in result:
                titles = [t.get("title", "") for t in result["tasks"]]
                return {
                    "role": "assistant",
                    "content": "Your tasks: " + ", ".join(titles)
                    if titles
                    else "You have no tasks.",
                }
            elif result.get("error"):
                return {"role": "assistant", "content": f"I could not do that: {result['error']}."}
        return {"role": "assistant", "content": "Done: " + ", ".join(reversed(done)) + "."}
    text = str(last.get("content") or "").strip()
    match = re.match(r"^(?:add|create)\s+(.+)$", text, re.IGNORECASE)
    if match:
        return tool_call_message([{"name": "add_task", "arguments": {"title": match.group(1)}}])
    if re.search(r"\b(list|what|show)\b", text, re.IGNORECASE):
        return tool_call_message([{"name": "list_tasks", "arguments": {"status": "pending"}}])
    return {"role": "assistant", "content": f"You said: {text}"}


class FakeOpenAI:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._steps: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- control
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}/v1"

    def script(self, *steps: dict[str, Any]) -> None:
        with self._lock:
            self._steps.extend(steps)

    def reset(self) -> None:
        with self._lock:
            self._steps.clear()
            self.requests.clear()
            self.headers.clear()

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on a "delay" step
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving
    def _next_step(self) -> dict[str, Any] | None:
        with self._lock:
            return self._steps.popleft() if self._steps else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)  # the client may have given up (timeout tests)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw or b"null")

            def do_GET(self) -> None:
                if self.path == "/__requests":
                    with fake._lock:
                        self._send(200, list(fake.requests))
                else:
                    self._send(
                        404, {"error": {"message": "not found", "type": "invalid_request_error"}}
                    )

            def do_POST(self) -> None:
                if self.path == "/__script":
                    steps = self._body()
                    fake.script(*(steps if isinstance(steps, list) else [steps]))
                    self._send(200, {"ok": True})
                    return
                if self.path == "/__reset":
                    fake.reset()
                    self._send(200, {"ok": True})
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(
                        404, {"error": {"message": "unknown path", "type": "invalid_request_error"}}
                    )
                    return
                try:
                    body = self._body()
                except ValueError:
                    self._send(
                        400, {"error": {"message": "bad json", "type": "invalid_request_error"}}
                    )
                    return
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._send(
                        401,
                        {
                            "error": {
                                "message": "Incorrect API key",
                                "type": "invalid_request_error",
                            }
                        },
                    )
                    return
                step = fake._next_step()
                if step and step.get("delay") and fake._stopping.wait(float(step["delay"])):
                    return
                model = (body or {}).get("model", "fake")
                if step is None:
                    self._send(200, _completion(default_reply(body.get("messages", [])), model))
                elif "status" in step:
                    error = {"error": {"message": "scripted failure", "type": "server_error"}}
                    self._send(int(step["status"]), step.get("body", error))
                elif "raw" in step:
                    self._send(200, None, raw=str(step["raw"]).encode())
                elif "tool_calls" in step:
                    message = tool_call_message(step["tool_calls"])
                    self._send(200, _completion(message, model, step.get("usage")))
                else:
                    message = {"role": "assistant", "content": step.get("content", "")}
                    self._send(200, _completion(message, model, step.get("usage")))

        return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local fake of the OpenAI Chat Completions API")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    parser.add_argument("--api-key", default=None, help="require this Bearer key")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(args.host, args.port, args.api_key)
    print(f"fake-openai listening on {fake.base_url}", flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
