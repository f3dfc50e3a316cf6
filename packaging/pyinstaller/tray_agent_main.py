"""The frozen program's entry point: the ``tray-agent`` command line.

A frozen app has no Python interpreter to run ``python -m ...``, yet the desktop daemon
starts the chat window as ``sys.executable -m tray_agent.desktop.window URL``. So this
entry point answers ``-m tray_agent.<module>`` itself, running that module as __main__.
"""

from __future__ import annotations

import multiprocessing
import runpy
import sys


def main() -> None:
    multiprocessing.freeze_support()
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        if not module.startswith("tray_agent."):  # only our own modules, never arbitrary code
            sys.exit(f"error: {module} is not part of Tray Agent")
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    from tray_agent.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
