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
from tray_agent.core.display import inert
from tray_agent.core.errors import TrayAgentError


class Ctx:
    """The App and the plugins, each built on first use, so `--version` stays instant and a
    built-in command that needs no store opens none."""

    def __init__(self, home: str | None, as_agent: int | None, group: click.Group) -> None:
        self.home = home
        self.as_agent = as_agent
        self._group = group
        self._app: Any = None
        self._plugins: Any = None

    @property
    def plugins(self) -> Any:
        """The process's one PluginHost, shared with its App: the installed plugins loaded
        and their commands added (``register_commands``), whose failures, like any hook's,
        the App stores for `plugins` and `doctor`."""
        if self._plugins is None:
            from tray_agent.plugins import PluginHost

            host = PluginHost()
            host.load_entry_points()
            host.call_each("register_commands", cli=self._group)
            self._plugins = host
        return self._plugins

    @property
    def app(self) -> Any:
        if self._app is None:
            from tray_agent.app import App
            from tray_agent.paths import resolve

            self._app = App(resolve(self.home), plugins=self.plugins, load_entry_points=False)
        return self._app

    @property
    def agent_id(self) -> int:
        return self.as_agent if self.as_agent is not None else self.app.agent.id

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


#: Hands a command the ``Ctx`` of its invocation (every command module uses this one).
pass_ctx = click.make_pass_decorator(Ctx)


class AgentGroup(click.Group):
    """Turns user errors into one line and a non-zero exit, wherever they are raised, and
    finds plugins' commands: it loads the plugins for a name it does not know and for
    ``--help``, so built-in commands never wait for them."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None:
            _ = context_obj(ctx).plugins  # loading them adds their commands
            found = super().get_command(ctx, cmd_name)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        _ = context_obj(ctx).plugins
        return super().list_commands(ctx)

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
    obj = context_obj(ctx)
    obj.home, obj.as_agent = home, as_agent
    if ctx.invoked_subcommand is None:
        from tray_agent.cli.admin import start_daemon

        ctx.invoke(start_daemon)


def context_obj(ctx: click.Context) -> Ctx:
    """The command line's Ctx, made on first need: finding a plugin's command (before the
    group's options are applied) needs the plugins already."""
    root = ctx.find_root()
    if not isinstance(root.obj, Ctx):
        root.obj = Ctx(root.params.get("home"), root.params.get("as_agent"), cli)
    return root.obj


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(_plain(data), indent=2, default=str))
    elif text is not None:
        # Lines quote customers' names, file names and words: no bidi control may reorder
        # them on the terminal (JSON keeps the stored text; its escapes are inert).
        click.echo(inert(text))


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
    from tray_agent.cli import calls  # noqa: F401  (call-handler set, agent extension)
    from tray_agent.cli import server  # noqa: F401  (the team server and its administration)
    from tray_agent.cli import server_channels  # noqa: F401  (server channel ...: on the server group)
    from tray_agent.cli import team  # noqa: F401  (connect, disconnect: a client of a team server)


_register()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="tray-agent")
