"""A stand-in for the agent's webhook endpoints: records every request the sandbox makes
(URL, headers, raw body) and answers as told, echoing Meta's hub.challenge."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class Receiver:
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    #: Status codes to answer with, in turn (then 200).
    answers: list[int] = field(default_factory=list)
    echo_challenge: bool = True
    #: Files served at /files/<name> (what the agent's file links would serve).
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def reset(self, url: str) -> None:
        self.url, self.requests, self.answers, self.echo_challenge, self.files = url, [], [], True, {}

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            path = request.url.path
            if path.startswith("/files/"):
                mime, data = self.files.get(path[len("/files/"):], ("", b""))
                return Response(data, media_type=mime) if mime else PlainTextResponse("gone", 404)
            body = await request.body()
            self.requests.append(Received(request.method, str(request.url), dict(request.headers), body))
            if request.method == "GET" and "hub.challenge" in request.query_params:
                return PlainTextResponse(request.query_params["hub.challenge"] if self.echo_challenge else "no")
            return PlainTextResponse("ok", self.answers.pop(0) if self.answers else 200)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST"])])

    def wait(self, count: int, timeout: float = 5.0, **match: Any) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.requests if all(r.form.get(k) == v for k, v in match.items())] \
                if match else list(self.requests)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)
