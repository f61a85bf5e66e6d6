#!/usr/bin/python
# Copyright: the todo project contributors (no license chosen for the repository yet)
"""Poll an HTTP endpoint until it answers as expected (Ansible module)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: todo_health
short_description: Poll an HTTP endpoint until it is healthy or a deadline passes
version_added: "1.0.0"
description:
  - Sends an HTTP request to O(url) again and again until the response has one of the
    expected status codes and, when O(expected_json) is given, a JSON body that contains
    that subset; or until O(wait_timeout) seconds have passed.
  - Each try has its own time limit (O(timeout)); tries are O(interval) seconds apart.
  - On success returns the status, the parsed JSON body, the number of attempts and the
    elapsed time. On timeout fails with the last error in the message.
  - Built for checking a deployment through an Ingress by IP address while sending the
    Ingress host in the C(Host) header.
  - The module only reads, so it runs normally in check mode and never reports a change.
author:
  - todo project contributors
options:
  url:
    description:
      - The http or https URL to request.
    type: str
    required: true
  method:
    description:
      - The HTTP method.
    type: str
    default: GET
  headers:
    description:
      - Extra request headers, for example C(Host) to address a name-based Ingress by IP.
    type: dict
    default: {}
  status_code:
    description:
      - The status codes that count as healthy.
    type: list
    elements: int
    default: [200]
  expected_json:
    description:
      - A JSON subset the response body must contain. Mappings match when every
        expected key is present and matches recursively; lists match element by
        element (the body may have more elements); other values must be equal.
      - When set, a body that is not JSON counts as unhealthy.
    type: dict
  timeout:
    description:
      - Seconds one try may take (connect plus read).
      - Capped by the time left before O(wait_timeout) (unless that is V(0)).
    type: float
    default: 5
  wait_timeout:
    description:
      - Total seconds to keep trying. V(0) means a single try.
    type: float
    default: 120
  interval:
    description:
      - Seconds to wait between two tries.
    type: float
    default: 2
  follow_redirects:
    description:
      - Whether to follow redirects. When V(false) a 3xx answer is itself the status, so
        list it in O(status_code) to accept it (useful when the redirect target names a
        host this machine cannot resolve).
    type: bool
    default: true
  validate_certs:
    description:
      - Whether to verify the server certificate for https URLs.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of CA certificates to verify the server with.
    type: path
  server_name:
    description:
      - For an https O(url) whose host is an address (an Ingress's IP), the name to ask the
        server for there. It is sent as TLS SNI, checked against the certificate (with
        O(ca_path) or the system's CAs), and sent as the C(Host) header unless O(headers) has
        one. The request still goes to the URL's address, so the name need not resolve on
        this machine.
      - With it, redirects are not followed (a 3xx is itself the status) and no proxy is used.
    type: str
  use_proxy:
    description:
      - Whether to honour the proxy environment variables. Off by default because a
        health check targets the cluster directly (a Minikube IP behind a corporate
        proxy would otherwise be sent to the proxy).
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: The module only sends requests, so check mode behaves like a normal run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
notes:
  - The response body is returned (truncated to 4096 characters in RV(content)) so it
    should not be used against endpoints that return secrets.
seealso:
  - module: ansible.builtin.uri
"""

EXAMPLES = r"""
- name: Wait for the backend through the Minikube Ingress
  todo_health:
    url: "http://{{ minikube_ip }}/api/v1/health"
    headers:
      Host: todo.local
    expected_json:
      status: ok
    wait_timeout: 180
    interval: 3

- name: The frontend answers (a redirect to the login page counts)
  todo_health:
    url: "http://{{ minikube_ip }}/"
    headers:
      Host: todo.local
    status_code: [200, 302, 307, 308]
    follow_redirects: false

- name: Through an Ingress with TLS, by its IP, for a host no DNS knows yet
  todo_health:
    url: "https://{{ minikube_ip }}/api/v1/health"
    server_name: todo.example.test
    ca_path: /etc/todo/ingress-ca.pem

- name: One quick probe that may fail without failing the play
  todo_health:
    url: https://todo.example.test/api/v1/health
    ca_path: /etc/ssl/certs/ca-certificates.crt
    wait_timeout: 0
  register: probe
  failed_when: false
"""

RETURN = r"""
status:
  description: HTTP status of the last response; V(-1) when no response arrived.
  returned: always
  type: int
  sample: 200
json:
  description: The last response body parsed as JSON, or V(null) when it was not JSON.
  returned: always
  type: raw
  sample: {"status": "ok"}
content:
  description: The last response body as text, at most 4096 characters.
  returned: always
  type: str
  sample: '{"status":"ok"}'
attempts:
  description: How many requests were sent.
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds from the first request to the end.
  returned: always
  type: float
  sample: 4.02
last_error:
  description: Why the last unhealthy try failed; V(null) on success.
  returned: always
  type: str
  sample: status 503 is not one of [200]
url:
  description: The URL that was polled.
  returned: always
  type: str
  sample: http://192.168.49.2/api/v1/health
"""

import http.client
import json
import socket
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.urls import open_url

CONTENT_LIMIT = 4096


def json_subset_mismatch(expected, actual, path="$"):
    """Return a description of the first place where `actual` does not contain
    `expected`, or None when it does."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path} is {type(actual).__name__}, expected an object"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key} is missing"
            mismatch = json_subset_mismatch(value, actual[key], f"{path}.{key}")
            if mismatch:
                return mismatch
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path} is {type(actual).__name__}, expected a list"
        if len(actual) < len(expected):
            return f"{path} has {len(actual)} elements, expected at least {len(expected)}"
        for index, value in enumerate(expected):
            mismatch = json_subset_mismatch(value, actual[index], f"{path}[{index}]")
            if mismatch:
                return mismatch
        return None
    if expected != actual:
        return f"{path} is {json.dumps(actual)}, expected {json.dumps(expected)}"
    return None


class NamedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the URL's address and asks TLS there for `server_name` (SNI and the
    certificate's name), which http.client would take from the URL's host."""

    def __init__(self, host, port, server_name, **kwargs):
        super().__init__(host, port, **kwargs)
        self.server_name = server_name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_name)


def named_request(params, timeout):
    """One request to O(url)'s address for O(server_name); returns (status, body bytes)."""
    parts = urlsplit(params["url"])
    context = ssl.create_default_context(cafile=params["ca_path"])
    if not params["validate_certs"]:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    conn = NamedHTTPSConnection(
        parts.hostname, parts.port or 443, params["server_name"], timeout=timeout, context=context
    )
    headers = dict(params["headers"])
    if not any(key.lower() == "host" for key in headers):
        headers["Host"] = params["server_name"]
    try:
        conn.request(
            params["method"], (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers=headers
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def probe(params, timeout):
    """Send one request. Returns (status, body_text, error); status is -1 and error
    is set when no HTTP answer arrived."""
    try:
        if params["server_name"]:
            status, body = named_request(params, timeout)
        else:
            response = open_url(
                params["url"],
                method=params["method"],
                headers=params["headers"],
                timeout=timeout,
                validate_certs=params["validate_certs"],
                ca_path=params["ca_path"],
                use_proxy=params["use_proxy"],
                follow_redirects="urllib2" if params["follow_redirects"] else "none",
            )
            status = response.getcode()
            body = response.read()
    except HTTPError as exc:
        # 4xx/5xx (and 3xx when redirects are not followed) still carry a status.
        status = exc.code
        try:
            body = exc.read() or b""
        except Exception:  # the error body is informational only
            body = b""
    except TimeoutError as exc:
        return -1, "", f"timed out after {_fmt(timeout)}s ({to_native(exc)})"
    except URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return -1, "", f"timed out after {_fmt(timeout)}s ({to_native(reason)})"
        return -1, "", f"request failed: {to_native(reason)}"
    except (OSError, http.client.HTTPException) as exc:
        return -1, "", f"request failed: {type(exc).__name__}: {to_native(exc)}"
    return status, to_text(body, errors="surrogate_or_replace"), None


def judge(params, status, body):
    """Returns (parsed_json, error) for a response; error is None when healthy."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
        json_error = "body is not JSON"
    else:
        json_error = None if body else "body is empty, expected JSON"

    if status not in params["status_code"]:
        return parsed, f"status {status} is not one of {params['status_code']}"
    expected = params["expected_json"]
    if expected is not None:
        if json_error:
            return parsed, json_error
        mismatch = json_subset_mismatch(expected, parsed)
        if mismatch:
            return parsed, f"JSON does not match: {mismatch}"
    return parsed, None


def _fmt(seconds):
    return (f"{seconds:.3f}").rstrip("0").rstrip(".")


def run(module):
    params = module.params
    for name in ("timeout", "wait_timeout", "interval"):
        if params[name] < 0:
            module.fail_json(msg=f"{name} must not be negative")
    if params["timeout"] == 0:
        module.fail_json(msg="timeout must be greater than 0")
    if params["server_name"] and urlsplit(params["url"]).scheme != "https":
        module.fail_json(msg=f"server_name is for an https url; got {params['url']}")

    start = time.monotonic()
    deadline = start + params["wait_timeout"]
    attempts = 0
    result = dict(
        changed=False, url=params["url"], status=-1, json=None, content="", attempts=0, elapsed=0.0, last_error=None
    )
    while True:
        attempts += 1
        remaining = deadline - time.monotonic()
        # A try never outlives the deadline, except the single try of wait_timeout=0.
        timeout = min(params["timeout"], remaining) if remaining > 0 else params["timeout"]
        status, body, error = probe(params, timeout)
        parsed = None
        if error is None:
            parsed, error = judge(params, status, body)
        result.update(
            status=status,
            json=parsed,
            content=body[:CONTENT_LIMIT],
            attempts=attempts,
            last_error=error,
            elapsed=round(time.monotonic() - start, 3),
        )
        if error is None:
            module.exit_json(**result)
        if time.monotonic() + params["interval"] >= deadline:
            break
        time.sleep(params["interval"])

    result["elapsed"] = round(time.monotonic() - start, 3)
    module.fail_json(
        msg=f"{params['method']} {params['url']} was not healthy after {attempts} attempt(s)"
        f" in {_fmt(result['elapsed'])}s; last error: {result['last_error']}",
        **result,
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            method=dict(type="str", default="GET"),
            headers=dict(type="dict", default={}),
            status_code=dict(type="list", elements="int", default=[200]),
            expected_json=dict(type="dict"),
            timeout=dict(type="float", default=5),
            wait_timeout=dict(type="float", default=120),
            interval=dict(type="float", default=2),
            follow_redirects=dict(type="bool", default=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            use_proxy=dict(type="bool", default=False),
            server_name=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    params["method"] = params["method"].upper()
    params["headers"] = dict((to_native(k), to_native(v)) for k, v in params["headers"].items())
    run(module)


if __name__ == "__main__":
    main()
