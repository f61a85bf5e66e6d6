"""A TCP relay: accepts on one address and pipes each connection to another, both ways, each
chunk optionally delayed. Two users:

- a profile of several nodes (tools/minikube/app.py): `minikube start --ports` publishes the
  port on every node's container, so the second node's start fails on a host port the first
  already holds (minikube applies the profile's ports to each node). The tests' load goes to
  127.0.0.1 only; a relay carries it to the first node's port 80, where the ingress addon's
  controller listens (hostPort);
- a slow database (tools/cluster/faults.py `SlowDatabase`): every chunk between the pods and
  the database waits `delay` seconds.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpRelay:
    """Accepts on `listen` and pipes each connection to `target`, both ways, until either side
    closes; `close()` stops accepting and cuts the connections still open."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], delay: float = 0.0) -> None:
        self.target, self.delay = target, delay
        self.server = socket.create_server(listen, reuse_port=False)
        self.server.settimeout(0.5)
        self.port: int = self.server.getsockname()[1]
        self._closed = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="tcp-relay", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()  # the client sees a reset, as it would from the real server
            return
        upstream.settimeout(None)
        with self._lock:
            self._open |= {client, upstream}
        back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
        back.start()
        self._pipe(client, upstream)
        back.join()
        with self._lock:
            self._open -= {client, upstream}
        client.close()
        upstream.close()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.delay:
                    time.sleep(self.delay)
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)  # pass the half-close on
        except OSError:
            for side in (source, sink):  # wakes the other direction's thread
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):  # stops listening now; close() alone waits for accept's poll
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        with self._lock:
            for side in self._open:
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)
