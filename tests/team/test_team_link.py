"""The desktop's link to the team server over real sockets: a kept-alive connection that the
server closed meanwhile (as uvicorn does after a 500) costs one more try on a new connection,
not an "offline" that would hold the outbox until the event stream reconnects."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from tray_agent import credentials
from tray_agent.core.clock import FrozenClock
from tray_agent.team.link import Link

KEY = ("tray-agent-team", "link-test")


class OneAnswerPerConnection:
    """Answers the first request of each connection with keep-alive, then resets the
    connection (RST) when a second request arrives on it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn, self.connections), daemon=True).start()

    def _one(self, conn: socket.socket, n: int) -> None:
        with conn:
            _read_request(conn)
            body = json.dumps({"connection": n}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            _read_request(conn)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, no answer

    def close(self) -> None:
        self.sock.close()


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


@pytest.fixture
def server() -> Iterator[OneAnswerPerConnection]:
    s = OneAnswerPerConnection()
    yield s
    s.close()


def test_a_connection_the_server_closed_is_tried_again_on_a_new_one_and_stays_online(server):
    credentials.put(*KEY, "device-token")
    link = Link([server.url], None, FrozenClock(), KEY)
    assert link.request("GET", "/sync/v1/me") == {"connection": 1}
    # The same kept-alive connection is reset: the answer comes from a new one.
    assert link.request("POST", "/sync/v1/conversations/1/reply", json={"text": "hi"},
                        headers={"Idempotency-Key": "k1"}) == {"connection": 2}
    assert link.status.state != "offline"
    assert server.connections == 2
