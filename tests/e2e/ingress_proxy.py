"""A same-origin reverse proxy that routes like the chart's Ingress (test helper, stdlib only).

    /api and /api/...  -> the backend   (Prefix match, no rewrite)
    everything else    -> the frontend

It relays method, path, query, body and headers both ways (Set-Cookie included), drops
hop-by-hop headers, and answers 502 with an HTML page when an upstream cannot be reached,
as ingress-nginx does. Binds loopback only.

    python tests/e2e/ingress_proxy.py --frontend http://127.0.0.1:3000 --backend http://127.0.0.1:8000 --port 8080
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
UPSTREAM_TIMEOUT = 60
BAD_GATEWAY = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


def routes_to_backend(path: str) -> bool:
    """Ingress Prefix semantics: /api matches /api and /api/x, not /apix."""
    only_path = path.split("?", 1)[0]
    return only_path == "/api" or only_path.startswith("/api/")


class IngressProxy:
    def __init__(self, frontend: str, backend: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.frontend = urlsplit(frontend)
        self.backend = urlsplit(backend)
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> IngressProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="ingress-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> IngressProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _relay(self) -> None:
                upstream = proxy.backend if routes_to_backend(self.path) else proxy.frontend
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                # What ingress-nginx adds, so apps see the public origin.
                headers["X-Forwarded-For"] = self.client_address[0]
                headers["X-Forwarded-Proto"] = "http"
                headers["X-Forwarded-Host"] = self.headers.get("Host", "")
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=UPSTREAM_TIMEOUT)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                except OSError:
                    conn.close()
                    self._send_raw(502, [("Content-Type", "text/html")], BAD_GATEWAY)
                    return
                conn.close()
                out = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
                self._send_raw(response.status, out, data, reason=response.reason)

            def _send_raw(
                self, status: int, headers: list[tuple[str, str]], data: bytes, reason: str | None = None
            ) -> None:
                self.send_response(status, reason)
                for key, value in headers:
                    self.send_header(key, value)
                if self.command != "HEAD" and status not in (204, 304):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and status not in (204, 304):
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _relay

        return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frontend", required=True)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    proxy = IngressProxy(args.frontend, args.backend, args.host, args.port)
    print(f"ingress-proxy listening on {proxy.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        proxy._server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
