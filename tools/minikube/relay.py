"""A TCP relay from 127.0.0.1:PORT to an address on a profile's Docker network, for a profile of
several nodes: `minikube start --ports` publishes the port on every node's container, so the
second node's start fails on a host port the first already holds (minikube applies the
profile's ports to each node). The tests' load goes to 127.0.0.1 only; this carries it to the
first node's port 80, where the ingress addon's controller listens (hostPort).
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpRelay:
    """Accepts on `listen` and pipes each connection to `target`, both ways, until either side closes."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(listen, reuse_port=False)
        self.server.settimeout(0.5)
        self._closed = threading.Event()
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
            client.close()  # the client sees a reset, as it would from the controller
            return
        upstream.settimeout(None)
        back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
        back.start()
        self._pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)  # pass the half-close on
        except OSError:
            for side in (source, sink):  # wakes the other direction's thread
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self.server.close()
