"""tools.tcp_relay.TcpRelay on 127.0.0.1: bytes both ways, the half-close passed on, each chunk
delayed when asked (the slow database), and close() cutting what is still open."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tools.tcp_relay import TcpRelay


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """Echoes each connection's bytes back, then closes its side once the client's side is closed."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()
    server.close()


def received(conn: socket.socket) -> bytes:
    chunks = []
    while data := conn.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def test_bytes_go_both_ways_and_the_half_close_is_passed_on(echo) -> None:
    relay = TcpRelay(("127.0.0.1", 0), echo)
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as conn:
            payload = b"x" * 200_000
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)  # the echo server only ends once it sees this
            assert received(conn) == payload
    finally:
        relay.close()


def test_each_chunk_waits_the_delay_each_way(echo) -> None:
    relay = TcpRelay(("127.0.0.1", 0), echo, delay=0.3)
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as conn:
            started = time.monotonic()
            conn.sendall(b"ping")
            assert conn.recv(16) == b"ping"
            assert time.monotonic() - started >= 0.6  # there and back
    finally:
        relay.close()


def test_close_stops_accepting_and_cuts_open_connections(echo) -> None:
    relay = TcpRelay(("127.0.0.1", 0), echo)
    conn = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    conn.sendall(b"a")
    assert conn.recv(16) == b"a"
    relay.close()
    assert conn.recv(16) == b""  # cut: end of stream, nothing left hanging
    conn.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", relay.port), timeout=2)


def test_a_target_that_refuses_resets_the_client() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    target = closed.getsockname()
    closed.close()  # nothing listens there now
    relay = TcpRelay(("127.0.0.1", 0), target)
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as conn:
            assert conn.recv(16) == b""
    finally:
        relay.close()
