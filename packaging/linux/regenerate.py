"""Writes the distributable Linux files in this folder from the same code that
``tray-agent install-desktop`` uses, so the two never drift apart:

    python packaging/linux/regenerate.py

tests/packaging checks that the committed files match.
"""

from __future__ import annotations

from pathlib import Path

from tray_agent.cli.desktop_integration import PORTABLE_COMMAND, desktop_entry, service_unit

HERE = Path(__file__).resolve().parent
FILES = {
    # A distribution's package puts tray-agent on PATH, so the menu entries name it plainly.
    "tray-agent.desktop": lambda: desktop_entry(["tray-agent"]),
    "tray-agent-autostart.desktop": lambda: desktop_entry(["tray-agent"], autostart=True),
    "tray-agent.service": lambda: service_unit(PORTABLE_COMMAND),
}


def main() -> None:
    for name, render in FILES.items():
        (HERE / name).write_text(render())
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
