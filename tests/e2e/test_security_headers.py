"""Security headers on the built frontend's real responses (through the Ingress-like proxy):
a per-response nonce CSP that the page's own scripts carry, no framing, no MIME sniffing, no
Referer to other sites. That the app still works under this CSP is what every browser
scenario shows: a blocked script or style is a console error, and scenarios fail on those.
"""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlsplit

import pytest
from stack import Urls

COMMON = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def get(base: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_page_csp_has_a_fresh_nonce_that_every_script_carries(e2e_stack: Urls) -> None:
    nonces = []
    for _ in range(2):
        status, headers, body = get(e2e_stack.app, "/signin")
        assert status == 200
        csp = directives(headers["content-security-policy"])
        nonce = next(v for v in csp["script-src"] if v.startswith("'nonce-"))[len("'nonce-") : -1]
        nonces.append(nonce)
        assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
        assert "'strict-dynamic'" in csp["script-src"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["object-src"] == ["'none'"]
        assert csp["default-src"] == ["'self'"]
        scripts = re.findall(r"<script\b[^>]*>", body)
        assert scripts, "the page has scripts"
        for tag in scripts:
            assert f'nonce="{nonce}"' in tag, f"script without this response's nonce: {tag}"
    assert nonces[0] != nonces[1], "a nonce is never reused"


def test_a_client_cannot_choose_the_nonce(e2e_stack: Urls) -> None:
    """Next.js takes the nonce from the request's CSP header: one the client sends is replaced."""
    chosen = "script-src 'nonce-chosenbyclient'"
    status, headers, body = get(
        e2e_stack.app,
        "/signin",
        {"Content-Security-Policy": chosen, "Content-Security-Policy-Report-Only": chosen},
    )
    assert status == 200
    assert "chosenbyclient" not in headers["content-security-policy"]
    assert "chosenbyclient" not in body


@pytest.mark.parametrize(
    ("path", "cookie", "status"),
    [
        ("/signin", "", 200),
        ("/signup", "", 200),
        ("/", "", 307),  # the redirect to /signin
        ("/", "todo_session=forged", 307),
        ("/no-such-page", "", 404),
        ("/healthz", "", 200),
    ],
)
def test_every_response_forbids_framing_and_sniffing(e2e_stack: Urls, path: str, cookie: str, status: int) -> None:
    got, headers, _ = get(e2e_stack.app, path, {"Cookie": cookie} if cookie else {})
    assert got == status
    for name, value in COMMON.items():
        assert headers.get(name) == value, f"{path}: {name}"
    if path != "/healthz":
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path


def test_static_assets_are_not_sniffed(e2e_stack: Urls) -> None:
    _, _, body = get(e2e_stack.app, "/signin")
    asset = re.search(r'src="(/_next/static/[^"]+\.js)"', body)
    assert asset, "the page references its JavaScript"
    status, headers, _ = get(e2e_stack.app, asset.group(1))
    assert status == 200
    assert headers["x-content-type-options"] == "nosniff"
    assert "javascript" in headers["content-type"]
