"""packaging/server/nginx.conf run by a real nginx in front of replicas, as the example is,
with only its addresses and certificate paths replaced; a self-signed certificate for it."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tests.waiting import wait_for

if TYPE_CHECKING:
    from tests.server.live import Team

SERVER_DIR = Path(__file__).resolve().parents[2] / "packaging" / "server"
#: The test client's own loopback address, so nginx's address (127.0.0.1) is not the client's.
CLIENT_ADDRESS = "127.0.0.2"


def render(conf: str, listen: int, upstreams: list[str], cert: Path, key: Path) -> str:
    """The example as it is, with its placeholders' real values: the replicas' addresses for
    127.0.0.1:8701/8702, a loopback port for 443, a self-signed certificate's paths for
    Let's Encrypt's. Each must be there exactly once, so the example cannot drift from this."""
    swaps = {"127.0.0.1:8701 ": f"{upstreams[0]} ", "127.0.0.1:8702 ": f"{upstreams[1]} ",
             "listen 443 ssl;": f"listen 127.0.0.1:{listen} ssl;",
             "/etc/letsencrypt/live/inbox.example.com/fullchain.pem": str(cert),
             "/etc/letsencrypt/live/inbox.example.com/privkey.pem": str(key)}
    for old, new in swaps.items():
        assert conf.count(old) == 1, f"packaging/server/nginx.conf no longer has {old!r} once"
        conf = conf.replace(old, new)
    return conf


def main_conf(prefix: Path, site: Path) -> str:
    """What /etc/nginx/nginx.conf gives the example, with every path under ``prefix``.
    One worker: round robin then alternates strictly between the replicas."""
    temp = "\n".join(f"    {k}_temp_path {prefix / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the 0700 temp dir
    return (f"{user}worker_processes 1;\nerror_log {prefix / 'error.log'} info;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n    log_format upstream '$request $status $upstream_addr $upstream_status $request_time';\n"
            f"    access_log {prefix / 'access.log'} upstream;\n{temp}\n    include {site};\n}}\n")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate (and its key) for 127.0.0.1, valid a day."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def sse_messages(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """The fields of each Server-Sent Events message in a stream's lines (``id``, ``event``,
    ``data``; a comment alone gives an empty message)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        yield fields
        fields = {}


def shut_down(stream: httpx.Response) -> None:
    """End a stream being read in another thread: its blocked read sees the end, and that
    thread closes the connection. Closing the client from here instead would free the
    socket's descriptor while OpenSSL in the reader still reads by number; the next TLS
    connection gets the number and the old reader eats its records (WRONG_VERSION_NUMBER)."""
    sock = stream.extensions["network_stream"].get_extra_info("socket")
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the other end closed it already


@dataclass
class Nginx:
    url: str
    cert: Path
    prefix: Path

    def client(self, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Client:
        """From CLIENT_ADDRESS, trusting nginx's certificate (each client its own TLS context)."""
        tls = ssl.create_default_context(cafile=str(self.cert))
        transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS, verify=tls)
        return httpx.Client(base_url=self.url, headers=headers or {}, timeout=30, transport=transport, **kw)

    def http(self, team: "Team | None" = None, who: str | None = None, **kw: Any) -> httpx.Client:
        return self.client({"Authorization": f"Bearer {team.tokens[who]}"} if team and who else {}, **kw)

    def error_log(self) -> str:
        return (self.prefix / "error.log").read_text(errors="replace")

    def logs(self) -> str:
        """For a failure's message: which replica served what, and nginx's complaints."""
        return (self.prefix / "access.log").read_text(errors="replace") + self.error_log()[-3000:]


@contextmanager
def nginx_in_front(prefix: Path, port: int, cert: Path, key: Path, upstreams: list[str]) -> Iterator[Nginx]:
    """The example listening on 127.0.0.1:``port`` in front of ``upstreams`` (host:port)."""
    prefix.mkdir(parents=True, exist_ok=True)
    site = prefix / "tray-agent.conf"
    site.write_text(render((SERVER_DIR / "nginx.conf").read_text(), port, upstreams, cert, key))
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix, site))
    cmd = ["nginx", "-c", str(conf), "-p", str(prefix), "-g", f"daemon off; pid {prefix / 'nginx.pid'};"]
    check = subprocess.run([*cmd, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def said() -> str:  # its complaint, once it has exited (reading earlier would block)
            return proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""

        wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True, 20,
                 alive=proc, retry=(OSError,), what=lambda: f"nginx to listen on {port}: {said()}")
        yield Nginx(f"https://127.0.0.1:{port}", cert, prefix)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
