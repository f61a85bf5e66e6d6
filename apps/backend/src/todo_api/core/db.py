"""Engine and sessions.

The engine never connects at creation, so the process starts while the database is down
(cold-starting Neon compute, brief outage). A checkout of a connection that sat idle for
more than PING_AFTER_IDLE_SECONDS is pinged first (a suspended Neon compute or a restarted
server has closed it: the pool then opens a fresh one, the request never sees it); a
connection in steady use is not, which saves a round trip on every request of a busy server.
One that dies while in use fails its request with 503 and the pool drops all connections
older than that failure. Connects time out after DB_CONNECT_TIMEOUT_SECONDS, and the pool
waits no longer than that for a free connection: during an outage requests fail fast (503,
see errors.py) and the pool heals by itself when the database is back.

Once a connect has failed or a connection was lost, the engine's ConnectGate lets one connect
attempt at a time try the database; every other one fails at once. Without it, each worker
thread of a busy server would spend the whole connect timeout on an unreachable database
while the requests behind them waited for a thread: 10 s and more for a 503 (measured on the
home-made real node of that time) instead of the few milliseconds it takes now.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from .config import DatabaseSettings

log = logging.getLogger("todo_api.db")

PING_AFTER_IDLE_SECONDS = 5.0

# What a lost or unreachable database looks like to SQLAlchemy.
DB_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError)


def connect_args(settings: DatabaseSettings) -> dict[str, object]:
    timeout = settings.db_connect_timeout_seconds
    args: dict[str, object] = {
        "application_name": "todo-api",
        # Poolers in transaction mode (Neon's -pooler endpoint, PgBouncer) do not keep
        # server-side prepared statements across transactions; never prepare.
        "prepare_threshold": None,
        # Notice a dead peer on an idle or busy TCP connection instead of hanging.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        # A query sent into a silent network fails after this instead of hanging for minutes:
        # an API request then answers 503 within about DB_CONNECT_TIMEOUT_SECONDS.
        "tcp_user_timeout": timeout * 1000,
    }
    if "connect_timeout" not in settings.sqlalchemy_url.query:
        args["connect_timeout"] = timeout
    return args


def build_engine(
    settings: DatabaseSettings, *, statement_timeout_ms: int | None = None, **overrides
) -> Engine:
    """statement_timeout_ms: set on every connection the engine opens (the API's engine);
    the migrator passes none, since DDL on a big table may rightly take longer."""
    options: dict[str, object] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_connect_timeout_seconds,
        # Neon suspends idle computes; recycle rather than keep very old connections.
        "pool_recycle": 1800,
        "connect_args": connect_args(settings),
    }
    if "poolclass" in overrides:  # e.g. NullPool for one-shot commands: no queue options
        for key in ("pool_size", "max_overflow", "pool_timeout"):
            options.pop(key)
    options.update(overrides)
    engine = create_engine(settings.sqlalchemy_url, **options)
    _ping_idle_connections(engine)
    if statement_timeout_ms:
        _limit_statements(engine, statement_timeout_ms)
    ConnectGate().install(engine)
    return engine


# The planner's price of a random page read for the API's queries. PostgreSQL's default (4)
# models spinning disks; on SSD-backed storage (Neon, any cloud volume, a laptop) 1.1 is the
# usual setting. It decides the task search: at 100k tasks of one user the planner took a
# sequential scan (230 ms) over the trigram indexes (9 ms) for q=milk (bench/task_search.py).
RANDOM_PAGE_COST = 1.1


def _limit_statements(engine: Engine, timeout_ms: int) -> None:
    """A session-level statement_timeout on each new connection: no request can hold a pooled
    connection (and the server's CPU) for longer, whatever it asks. A SET rather than the
    `options` startup parameter, which would replace any `options` the DATABASE_URL carries.

    The same bound on a transaction left idle: a pod that lost the database mid-request (its
    COMMIT dropped in a network outage, or the pod killed) leaves the server holding that
    transaction and its row locks until the server notices the peer is gone, which over TCP
    takes up to minutes. Every create for that user (it locks the user's row) would wait out
    the statement timeout and answer 503 long after the database is back; with this the
    server ends the orphan within timeout_ms. A request never idles inside a transaction:
    the assistant closes its session before it waits for the model.

    The API's planner cost comes along (RANDOM_PAGE_COST)."""

    @event.listens_for(engine, "connect")
    def _set_timeout(dbapi_connection, record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(timeout_ms)}")
            cursor.execute(f"SET idle_in_transaction_session_timeout = {int(timeout_ms)}")
            cursor.execute(f"SET random_page_cost = {RANDOM_PAGE_COST}")
        dbapi_connection.commit()


def is_statement_timeout(exc: BaseException) -> bool:
    """The server cancelled the statement (statement_timeout), not a lost database."""
    return isinstance(getattr(exc, "orig", None), psycopg.errors.QueryCanceled)


class ConnectGate:
    """While the database is known to be unreachable, requests do not try to connect.

    "Known unreachable" starts with a failed connect or a lost connection. From then on a
    single background prober tries to connect every PROBE_INTERVAL_SECONDS, and every connect
    a request asks for fails at once (503 with Retry-After) with the prober's last reason,
    until the prober gets through. Without it each worker thread of a busy server would spend
    the whole connect timeout on an unreachable database while the requests queued behind it
    waited for a thread: over 10 s for a 503 on the home-made real node of that time, instead of milliseconds.
    """

    PROBE_INTERVAL_SECONDS = 1.0

    def __init__(self) -> None:
        self.unreachable = False
        self.reason = ""
        self._connect_with: tuple | None = None  # (dialect, cargs, cparams) of the last connect
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def install(self, engine: Engine) -> None:
        event.listen(engine, "do_connect", self._connect)
        event.listen(engine, "handle_error", self._on_error)
        event.listen(engine, "engine_disposed", self._on_dispose)

    def _connect(self, dialect, conn_rec, cargs, cparams):
        self._connect_with = (dialect, cargs, cparams)
        if self.unreachable:
            raise psycopg.OperationalError(f"{self.reason} (waiting for the database to answer again)")
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            self._mark_unreachable(_first_line(exc))
            raise

    def _on_error(self, context) -> None:
        if context.is_disconnect:
            self._mark_unreachable(_first_line(context.original_exception))

    def _on_dispose(self, engine: Engine) -> None:
        self._stop.set()

    def _mark_unreachable(self, reason: str) -> None:
        with self._lock:
            self.reason = reason
            if self.unreachable or self._connect_with is None or self._stop.is_set():
                return
            self.unreachable = True
            log.warning("database unreachable: requests fail fast until it answers again")
            threading.Thread(target=self._probe, name="db-prober", daemon=True).start()

    def _probe(self) -> None:
        dialect, cargs, cparams = self._connect_with
        while True:
            try:
                dialect.connect(*cargs, **cparams).close()
            except Exception as exc:
                self.reason = _first_line(exc)
                if self._stop.wait(self.PROBE_INTERVAL_SECONDS):
                    break
                continue
            log.info("database reachable again")
            break
        with self._lock:
            self.unreachable = False  # reachable, or disposed: a new pool starts without a verdict


def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return  # brand new, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception:
            # The pool closes this connection and checks out (or opens) another.
            raise DisconnectionError("idle connection is gone") from None


def is_connection_problem(exc: BaseException) -> bool:
    if is_statement_timeout(exc):
        return False
    if isinstance(exc, DB_UNAVAILABLE_ERRORS):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def describe_db_error(exc: BaseException) -> str:
    """A short reason for readiness/logs that never contains the URL or password."""
    if isinstance(exc, PoolTimeoutError):
        return "no free database connection (pool exhausted)"
    original = getattr(exc, "orig", None) or exc
    kind = type(original).__name__
    text_ = str(original).lower()
    if "timeout" in text_ or "timed out" in text_:
        return f"database connection timed out ({kind})"
    if "refused" in text_:
        return f"database refused the connection ({kind})"
    if "password authentication failed" in text_ or "authentication" in text_:
        return f"database rejected the credentials ({kind})"
    if "does not exist" in text_:
        return f"database or role does not exist ({kind})"
    return f"database unreachable ({kind})"


def wait_for_database(
    engine: Engine, deadline_seconds: float, stop: threading.Event | None = None
) -> bool:
    """Try to reach the database until it answers or the deadline passes; never raises."""
    start = time.monotonic()
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            ping(engine)
            log.info("database reachable", extra={"attempt": attempt})
            return True
        except Exception as exc:
            elapsed = time.monotonic() - start
            log.warning(
                "database not reachable yet",
                extra={"attempt": attempt, "reason": describe_db_error(exc)},
            )
            if elapsed + delay > deadline_seconds:
                return False
            if stop is not None:
                if stop.wait(delay):
                    return False
            else:
                time.sleep(delay)
            delay = min(delay * 2, 5.0)
