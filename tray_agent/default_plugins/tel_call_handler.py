"""Built-in call handler: opens a ``tel:``, ``sip:`` or ``callto:`` URI (the scheme the user's
softphone registers, ``calls.uri_scheme``) with the operating system's handler.

``xdg-open`` on Linux, ``open`` on macOS, ``os.startfile`` on Windows; always an argument
list, never a shell, and only for a number already checked as E.164. On Linux it is
"available" only when ``xdg-mime`` names a program registered for the scheme.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from collections.abc import Callable

from tray_agent import CallHandler, CallResult, HandlerSetup, InvalidInput, TrayAgentError, hookimpl

SCHEMES = ("tel", "sip", "callto")


class TelUriHandler:
    name = "tel"
    label = "System phone app (tel: link)"

    def __init__(self, opener: list[str] | None = None, scheme: str = "tel") -> None:
        # TRAY_AGENT_TEL_OPENER lets a test or a user name the program that receives the URI.
        env = os.environ.get("TRAY_AGENT_TEL_OPENER")
        self._custom_opener = bool(opener or env)
        self.opener = opener or (env.split() if env else _default_opener())
        self.scheme = scheme
        self._setup_error = ""

    def configure(self, setup: HandlerSetup) -> None:
        scheme = setup.setting("uri_scheme", "tel").strip().lower().rstrip(":")
        if scheme not in SCHEMES:
            # Unavailable rather than silently opening another scheme than the one asked for.
            self._setup_error = f"calls.uri_scheme is {scheme!r}; use one of {', '.join(SCHEMES)}"
            raise InvalidInput(self._setup_error + ".")
        self.scheme = scheme
        self.label = f"System phone app ({scheme}: link)"

    def available(self) -> bool:
        return self._check()[0]

    def status(self) -> str:
        return self._check()[1]

    def _check(self) -> tuple[bool, str]:
        if self._setup_error:
            return False, self._setup_error
        if sys.platform == "win32" and not self.opener:
            return True, f"Windows opens {self.scheme}: links with the app set under default apps by protocol"
        if not self.opener or shutil.which(self.opener[0]) is None:
            return False, f"no program to open {self.scheme}: links ({self.opener[0] if self.opener else 'none'} missing)"
        if self._custom_opener or sys.platform != "linux":
            return True, f"{self.scheme}: links open with {self.opener[0]}"
        app = registered_handler(self.scheme)
        if app is None:
            return False, (f"no application is registered for {self.scheme}: links (xdg-mime query default "
                           f"x-scheme-handler/{self.scheme} names none); install a softphone or choose "
                           f"another calls.uri_scheme")
        return True, f"{self.scheme}: links open with {app}"

    def call(self, number: str, agent_extension: str | None) -> CallResult:
        if not number.startswith("+") or not number[1:].isdigit():
            raise TrayAgentError(f"{number!r} is not an E.164 number; no call was started.")
        uri = f"{self.scheme}:{number}"
        if sys.platform == "win32" and not self.opener:
            os.startfile(uri)  # type: ignore[attr-defined]  # Windows only; mypy checks as Linux
            return CallResult(True, f"Opened {uri} with the system's call handler")
        ok, why = self._check()
        if not ok:
            raise TrayAgentError(f"Cannot open {uri}: {why}.")
        proc = subprocess.run([*self.opener, uri], capture_output=True, text=True, timeout=15)
        if proc.returncode != 0:
            reason = (proc.stderr or proc.stdout).strip().splitlines()
            raise TrayAgentError(
                f"The system could not open {uri}: {reason[-1] if reason else f'exit {proc.returncode}'}"
            )
        app = why.split(" with ", 1)[-1] if why.endswith(".desktop") else ""
        # Handing the URI over is all the OS tells us; whether the softphone dials is its own.
        return CallResult(True, f"Opened {uri} with the system's call handler" + (f" ({app})" if app else ""),
                          outcome="handed to the phone app, which does not report back")


def registered_handler(scheme: str) -> str | None:
    """The .desktop file xdg-mime names for ``x-scheme-handler/<scheme>``, or None."""
    if shutil.which("xdg-mime") is None:
        return None
    try:
        proc = subprocess.run(["xdg-mime", "query", "default", f"x-scheme-handler/{scheme}"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name else None


def _default_opener() -> list[str]:
    if sys.platform == "darwin":
        return ["open"]
    if sys.platform == "win32":
        return []
    return ["xdg-open"]


@hookimpl
def register_call_handlers(register: Callable[[CallHandler], None]) -> None:
    register(TelUriHandler())
