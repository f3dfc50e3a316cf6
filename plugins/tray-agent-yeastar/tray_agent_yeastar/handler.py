"""The ``yeastar`` call handler: the PBX rings the agent's extension first, then dials the
customer from the business line, under the extension's outbound permission (as Linkus does).

It listens to the PBX's events for a short while after dialling, so a refusal the PBX
reports as a (30015) Call Failed event reaches the agent as a failed call, with why.
"""

from __future__ import annotations

import threading
from typing import Any

from tray_agent import CallResult, HandlerSetup, TrayAgentError
from tray_agent_yeastar import reasons
from tray_agent_yeastar.openapi import CALL_FAILED, CALL_STATUS_CHANGED, DEFAULT_API_PATH, EventStream, PSeriesApi

SETTINGS = {
    "pbx_url": "The PBX's web address with its port, e.g. https://192.168.5.150:8088",
    "api_path": f"The OpenAPI's path (default {DEFAULT_API_PATH})",
    "dial_permission": "Dial with this extension's outbound permission instead of the agent's (optional)",
    "callee_prefix": "Digits the outbound route needs before the number, which is then sent without '+' (optional)",
    "auto_answer": "yes: the agent's phone answers by itself (phones that support it); default no",
    "result_wait_seconds": "How long to watch the PBX's events for the call's result (default 8)",
    "verify_tls": "no: accept the PBX's self-signed certificate (default yes)",
}
SECRETS = {"client_id": "Client ID from the PBX (Integrations > API)",
           "client_secret": "Client Secret from the PBX (Integrations > API)"}


class YeastarHandler:
    name = "yeastar"
    label = "Yeastar PBX (rings your extension, then the customer)"
    settings = SETTINGS
    secrets = SECRETS

    def __init__(self) -> None:
        self._setup = HandlerSetup(self.name)
        self._api: PSeriesApi | None = None
        self._lock = threading.Lock()  # one token pair per process; calls may come from two threads

    def configure(self, setup: HandlerSetup) -> None:
        self._setup = setup
        self._api = None

    def available(self) -> bool:
        return not self._missing()

    def status(self) -> str:
        missing = self._missing()
        if missing:
            return "not set up: " + "; ".join(missing)
        return f"PBX at {self._setup.setting('pbx_url')}"

    def _missing(self) -> list[str]:
        missing = []
        if not self._setup.setting("pbx_url"):
            missing.append("[calls.yeastar] pbx_url is not set")
        for name in SECRETS:
            if not self._setup.secret(name):
                missing.append(f"{name} is not in the keyring")
        return missing

    def call(self, number: str, agent_extension: str | None) -> CallResult:
        if not number.startswith("+") or not number[1:].isdigit():
            raise TrayAgentError(f"{number!r} is not an E.164 number; no call was started.")
        ext = (agent_extension or "").strip()
        if not ext:
            raise TrayAgentError("Your agent profile has no PBX extension, so the PBX cannot ring you first; "
                                 "ask an administrator to set it (tray-agent agent add --extension).")
        if missing := self._missing():
            raise TrayAgentError("The Yeastar PBX is not set up: " + "; ".join(missing) + ".")
        prefix = self._setup.setting("callee_prefix")
        callee = prefix + number[1:] if prefix else number
        wait = float(self._setup.setting("result_wait_seconds", "8"))
        with self._lock:
            api = self._client()
            # Subscribe before dialling: a refusal can be reported at once.
            with api.events([CALL_FAILED, CALL_STATUS_CHANGED]) as events:
                answer, call_id = api.dial(ext, callee, dial_permission=self._setup.setting("dial_permission"),
                                           auto_answer=self._setup.setting("auto_answer", "no"))
                if not answer.ok:
                    raise TrayAgentError(reasons.dial_error(answer.errcode, answer.errmsg, ext, number))
                outcome = _watch(events, call_id, ext, wait)
        return CallResult(True, f"The PBX is ringing your extension {ext}, then dials {number}",
                          call_id=call_id or None, outcome=outcome)

    def _client(self) -> PSeriesApi:
        if self._api is None:
            self._api = PSeriesApi(self._setup.setting("pbx_url"), self._setup.secret("client_id") or "",
                                   self._setup.secret("client_secret") or "",
                                   api_path=self._setup.setting("api_path", DEFAULT_API_PATH),
                                   verify_tls=self._setup.setting("verify_tls", "yes").lower() not in ("no", "false", "0"))
        return self._api


def _watch(events: EventStream, call_id: str, ext: str, seconds: float) -> str:
    """Read the call's events until it fails (raise with the reason), the customer's line is
    being dialled or answers (return what happened), or ``seconds`` pass."""
    import time

    deadline = time.monotonic() + seconds
    heard = "the PBX reported nothing more within the wait"
    while (left := deadline - time.monotonic()) > 0:
        report = events.next(left)
        if report is None:
            break
        msg: Any = report.get("msg")
        if not isinstance(msg, dict) or str(msg.get("call_id", "")) != call_id:
            continue
        members = msg.get("members") or []
        if report.get("type") == CALL_FAILED:
            caller_failed = any((m.get("extension") or {}).get("number") == ext for m in members) and not any(
                "outbound" in m for m in members)
            raise TrayAgentError(reasons.failure_reason(str(msg.get("reason", "")), ext, caller_failed))
        if report.get("type") == CALL_STATUS_CHANGED:
            out = next((m["outbound"] for m in members if isinstance(m.get("outbound"), dict)), None)
            if out and out.get("member_status") in ("ANSWER", "ANSWERED"):
                return "the customer answered"
            if out:
                return "the customer's phone is ringing"
            if any((m.get("extension") or {}).get("member_status") == "RING" for m in members):
                heard = f"your extension {ext} is ringing"
    return heard
