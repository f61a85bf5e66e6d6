"""Issue 20, item 3: logins waiting for a password hash are bounded per process; the excess
is answered 503 with Retry-After at once instead of queueing for many seconds. Ordering, not
timing: the hash is held until the excess request has been answered."""

from __future__ import annotations

import threading

from helpers import new_credentials

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"


def test_logins_beyond_the_hash_queue_get_503_at_once(db, make_client, monkeypatch):
    client = make_client(
        db.url,
        password_hash_concurrency=1,
        password_hash_queue=2,
        auth_rate_per_address=1000,
        auth_rate_per_account=1000,
    )
    creds = new_credentials()
    assert client.post(REGISTER, json=creds).status_code == 201

    from todo_api.api.routes import auth

    real_verify = auth.verify_password
    release = threading.Event()

    def held_verify(*args):
        release.wait(timeout=30)
        return real_verify(*args)

    monkeypatch.setattr(auth, "verify_password", held_verify)
    queue = client.app.state.hash_queue
    answers: list[int] = []
    logins = [
        threading.Thread(target=lambda: answers.append(client.post(LOGIN, json=creds).status_code))
        for _ in range(3)  # one hashing, two waiting
    ]
    try:
        for login in logins:
            login.start()
        while queue.waiting < 2:  # until two wait behind the held hash
            assert all(login.is_alive() for login in logins)
            threading.Event().wait(0.01)
        refused = client.post(LOGIN, json=creds)
        answered_while_full = not release.is_set()
    finally:
        release.set()
        for login in logins:
            login.join(timeout=30)
    assert answered_while_full
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert answers == [200, 200, 200]
