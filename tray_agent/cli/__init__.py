"""The ``tray-agent`` command line: every service operation without a window.

With no command it starts the tray daemon. Errors a user can cause print one line to
stderr and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from tray_agent import __version__
from tray_agent.core.errors import TrayAgentError


class Ctx:
    """Lazily built App, so `--version` and `--help` stay instant."""

    def __init__(self, home: str | None, as_agent: int | None) -> None:
        self.home = home
        self.as_agent = as_agent
        self._app: Any = None

    @property
    def app(self) -> Any:
        if self._app is None:
            from tray_agent.app import App
            from tray_agent.paths import resolve

            self._app = App(resolve(self.home))
        return self._app

    @property
    def agent_id(self) -> int:
        return self.as_agent if self.as_agent is not None else self.app.agent.id

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


class AgentGroup(click.Group):
    """Turns user errors into one line and a non-zero exit, wherever they are raised."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrayAgentError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
        finally:
            obj = ctx.obj
            if isinstance(obj, Ctx):
                obj.close()


@click.group(cls=AgentGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="tray-agent")
@click.option("--home", envvar="TRAY_AGENT_HOME", type=click.Path(file_okay=False),
              help="Keep everything under this folder (default: the platform's user dirs).")
@click.option("--as", "as_agent", type=int, default=None, help="Act as this agent id (team set-ups, tests).")
@click.pass_context
def cli(ctx: click.Context, home: str | None, as_agent: int | None) -> None:
    """Tray Agent: one inbox for SMS, WhatsApp and plugin channels. With no command,
    starts the tray daemon."""
    ctx.obj = Ctx(home, as_agent)
    if ctx.invoked_subcommand is None:
        from tray_agent.cli.admin import start_daemon

        ctx.invoke(start_daemon)


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(_plain(data), indent=2, default=str))
    elif text is not None:
        click.echo(text)


def _plain(data: Any) -> Any:
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_plain(d) for d in data]
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    return data


def _register() -> None:
    from tray_agent.cli import admin, inbox  # noqa: F401  (commands register on import)
    from tray_agent.cli import desktop_integration, plugin_kit  # noqa: F401
    from tray_agent.cli import channels  # noqa: F401  (channel add|list|remove|test, sandbox)
    from tray_agent.cli import server  # noqa: F401  (the team server and its administration)


_register()


def main(argv: list[str] | None = None) -> None:
    _add_plugin_commands(argv if argv is not None else sys.argv[1:])
    cli.main(args=argv, prog_name="tray-agent")


def _add_plugin_commands(argv: list[str]) -> None:
    """Plugins add commands via ``register_commands``; loading them is skipped for the
    built-in commands so those start fast."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None or first in cli.commands:
        return
    from tray_agent.plugins import PluginHost

    host = PluginHost()
    host.load_entry_points()
    host.call_each("register_commands", cli=cli)
