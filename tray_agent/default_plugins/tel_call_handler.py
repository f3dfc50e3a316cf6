"""Built-in call handler: opens a ``tel:`` URI with the operating system's handler.

``xdg-open`` on Linux, ``open`` on macOS, ``os.startfile`` on Windows; always an argument
list, never a shell, and only for a number already checked as E.164.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tray_agent.calls import CallResult
from tray_agent.core.errors import TrayAgentError
from tray_agent.hookspecs import hookimpl


class TelUriHandler:
    name = "tel"
    label = "System phone app (tel: link)"

    def __init__(self, opener: list[str] | None = None) -> None:
        # TRAY_AGENT_TEL_OPENER lets a test or a user name the program that receives the URI.
        env = os.environ.get("TRAY_AGENT_TEL_OPENER")
        self.opener = opener or (env.split() if env else _default_opener())

    def available(self) -> bool:
        if sys.platform == "win32" and not self.opener:
            return True
        return bool(self.opener) and shutil.which(self.opener[0]) is not None

    def call(self, number: str, agent_extension: str | None) -> CallResult:
        if not number.startswith("+") or not number[1:].isdigit():
            raise TrayAgentError(f"{number!r} is not an E.164 number; no call was started.")
        uri = f"tel:{number}"
        if sys.platform == "win32" and not self.opener:
            os.startfile(uri)  # type: ignore[attr-defined]
            return CallResult(True, f"Opened {uri} with the system's call handler")
        if not self.available():
            raise TrayAgentError("No program to open tel: links is installed (xdg-open missing).")
        proc = subprocess.run([*self.opener, uri], capture_output=True, text=True, timeout=15)
        if proc.returncode != 0:
            reason = (proc.stderr or proc.stdout).strip().splitlines()
            raise TrayAgentError(
                f"The system could not open {uri}: {reason[-1] if reason else f'exit {proc.returncode}'}"
            )
        return CallResult(True, f"Opened {uri} with the system's call handler")


def _default_opener() -> list[str]:
    if sys.platform == "darwin":
        return ["open"]
    if sys.platform == "win32":
        return []
    return ["xdg-open"]


@hookimpl
def register_call_handlers(register):  # type: ignore[no-untyped-def]
    register(TelUriHandler())
