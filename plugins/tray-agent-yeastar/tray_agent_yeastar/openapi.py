"""The Yeastar P-Series OpenAPI as click-to-call uses it: access tokens (30 min, refreshed
with the 24 h refresh token), ``call/dial``, and the event WebSocket that reports a call's
failure (30015) or status (30011).

Every request carries ``User-Agent: OpenAPI`` (the PBX ignores requests without it). Tokens
and credentials never appear in an error message: URLs are reported without their query.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tray_agent import TrayAgentError, tls_context

USER_AGENT = "OpenAPI"
DEFAULT_API_PATH = "/openapi/v1.0"
CALL_STATUS_CHANGED = 30011
CALL_FAILED = 30015
#: Refresh a little before the PBX's own expiry, so a token never dies in flight.
EXPIRY_MARGIN = 60.0


class _RedactTokens(logging.Filter):
    """The OpenAPI carries the access token in the URL, which httpx (INFO) and websockets
    (DEBUG) log with each request: the token is cut out of those records."""

    pattern = re.compile(r"(access_token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "access_token=" in text:
            record.msg, record.args = self.pattern.sub(r"\1[redacted]", text), ()
        return True


_REDACT = _RedactTokens()
for _name in ("httpx", "websockets.client"):
    if not any(isinstance(f, _RedactTokens) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_REDACT)


class PbxError(TrayAgentError):
    """The PBX could not be reached or refused; the message is for the agent."""


@dataclass(frozen=True)
class Answer:
    errcode: int
    errmsg: str
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.errcode == 0


def token_rejected(a: Answer) -> bool:
    """An answer saying the access token is expired or unknown (its text names the token)."""
    return not a.ok and "TOKEN" in a.errmsg.upper()


class PSeriesApi:
    def __init__(self, base_url: str, client_id: str, client_secret: str, *, api_path: str = DEFAULT_API_PATH,
                 timeout: float = 10.0, verify_tls: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_path = "/" + api_path.strip("/")
        self._creds = (client_id, client_secret)
        self._verify = verify_tls
        self._clock = clock
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                  verify=tls_context() if verify_tls else False,
                                  headers={"User-Agent": USER_AGENT})
        self._access: tuple[str, float] | None = None
        self._refresh: tuple[str, float] | None = None

    def close(self) -> None:
        self._http.close()

    # -- tokens ------------------------------------------------------------------------

    def access_token(self) -> str:
        now = self._clock()
        if self._access and now < self._access[1]:
            return self._access[0]
        if self._refresh and now < self._refresh[1]:
            answer = self._post("refresh_token", {"refresh_token": self._refresh[0]})
            if answer.ok:
                return self._keep(answer)
        username, password = self._creds
        answer = self._post("get_token", {"username": username, "password": password})
        if not answer.ok:
            raise PbxError(f"The PBX refused the API credentials (Client ID / Client Secret): "
                           f"{answer.errmsg or 'FAILURE'} (errcode {answer.errcode}).")
        return self._keep(answer)

    def _keep(self, a: Answer) -> str:
        now = self._clock()
        try:
            token = str(a.body["access_token"])
            self._access = (token, now + float(a.body.get("access_token_expire_time", 1800)) - EXPIRY_MARGIN)
            self._refresh = (str(a.body["refresh_token"]),
                             now + float(a.body.get("refresh_token_expire_time", 86400)) - EXPIRY_MARGIN)
        except (KeyError, TypeError, ValueError):
            raise PbxError("The PBX answered the token request without a token.") from None
        return token

    # -- requests ----------------------------------------------------------------------

    def request(self, endpoint: str, body: dict[str, Any]) -> Answer:
        """POST with the access token; a token the PBX calls expired is renewed once and the
        request sent again (the PBX may expire it before the time it announced)."""
        answer = self._post(endpoint, body, token=self.access_token())
        if token_rejected(answer):
            self._access = None
            answer = self._post(endpoint, body, token=self.access_token())
        return answer

    def dial(self, caller: str, callee: str, *, dial_permission: str = "", auto_answer: str = "no") -> tuple[Answer, str]:
        body = {"caller": caller, "callee": callee, "auto_answer": auto_answer}
        if dial_permission:
            body["dial_permission"] = dial_permission
        answer = self.request("call/dial", body)
        return answer, str(answer.body.get("call_id") or "")

    def _post(self, endpoint: str, body: dict[str, Any], *, token: str | None = None) -> Answer:
        url = f"{self.base_url}{self.api_path}/{endpoint}"
        try:
            r = self._http.post(url, json=body, params={"access_token": token} if token else None)
        except httpx.HTTPError as exc:
            raise PbxError(f"The PBX at {self.base_url} cannot be reached ({type(exc).__name__}: "
                           f"{_without_query(str(exc))}).") from None
        try:
            data = r.json()
            return Answer(int(data.get("errcode", -1)), str(data.get("errmsg", "")), data)
        except (ValueError, AttributeError, TypeError):
            raise PbxError(f"The PBX at {self.base_url} answered {endpoint} with HTTP {r.status_code}, "
                           f"not the OpenAPI's JSON; check pbx_url and api_path.") from None

    # -- events ------------------------------------------------------------------------

    @contextmanager
    def events(self, topics: list[int], open_timeout: float = 5.0) -> Iterator["EventStream"]:
        """The PBX's event WebSocket, subscribed to ``topics`` before the block runs."""
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        from websockets.exceptions import InvalidStatus

        ws_base = "ws" + self.base_url.removeprefix("http")
        context = None
        if ws_base.startswith("wss:") and not self._verify:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

        def open_socket() -> Any:
            url = f"{ws_base}{self.api_path}/subscribe?access_token={self.access_token()}"
            return connect(url, user_agent_header=USER_AGENT, open_timeout=open_timeout, ssl=context)

        try:
            try:
                ws = open_socket()
            except InvalidStatus:  # refused at the handshake: a token the PBX expired early
                self._access = None
                ws = open_socket()
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise PbxError(f"The PBX's event connection at {ws_base} cannot be opened "
                           f"({type(exc).__name__}); check that the API is enabled.") from None
        with ws:
            ws.send(json.dumps({"topic_list": topics}))
            stream = EventStream(ws)
            first = stream.next(open_timeout)
            if first is None or first.get("errcode", 0) != 0:
                raise PbxError(f"The PBX refused the event subscription: "
                               f"{(first or {}).get('errmsg', 'no answer')}.")
            yield stream


class EventStream:
    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON report within ``timeout`` seconds (``msg`` decoded), or None."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = self._ws.recv(timeout=left)
            except TimeoutError:
                return None
            except ConnectionClosed:
                return None
            try:
                report = json.loads(raw)
            except (TypeError, ValueError):
                continue  # "heartbeat response" and other plain text
            if isinstance(report, dict):
                # The PBX sends ``msg`` as a JSON document inside a string.
                if isinstance(report.get("msg"), str):
                    try:
                        report["msg"] = json.loads(report["msg"])
                    except ValueError:
                        pass
                return report
        return None


def _without_query(text: str) -> str:
    # httpx may quote the URL, whose query holds the access token.
    return " ".join(w.split("?", 1)[0] if "://" in w else w for w in text.split())
