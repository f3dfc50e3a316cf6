"""A TCP relay between a desktop and the team server that a test can cut (every open
connection dropped, new ones refused) and restore: the network going away and back; or
slow down (``rate``, bytes a second each way): a long download to be caught mid-way."""

from __future__ import annotations

import socket
import threading
import time

from tray_agent.net import free_port


class Relay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port("127.0.0.1")
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.blocked = False
        #: Bytes a second per direction of each connection; None: as fast as it goes.
        self.rate: float | None = None
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True, name=f"relay-{self.port}").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def block(self) -> None:
        """The network is gone: open connections drop, new ones are closed at once."""
        with self._lock:
            self.blocked = True
            socks, self._open = list(self._open), set()
        for s in socks:
            _close(s)

    def unblock(self) -> None:
        self.blocked = False

    def stop(self) -> None:
        self._stopped = True
        self.block()
        _close(self._listener)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.blocked:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                # A cut that came while this connection was being made must drop it too:
                # otherwise a desktop's reconnect slips through and stays online.
                kept = not self.blocked
                if kept:
                    self._open |= {client, upstream}
            if not kept:
                _close(client)
                _close(upstream)
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(4096 if self.rate else 65536):
                dst.sendall(data)
                if self.rate:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
