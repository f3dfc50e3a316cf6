"""One object owns a running agent: the ``Runner`` takes (or builds) the App and starts,
in one explicit order, the channel set-up, the provider sandbox when wanted, the channel
runtime with its background tasks and the local API; it stops them in reverse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tray_agent.api import security
from tray_agent.api.deps import ApiState, Desktop
from tray_agent.api.server import ApiServer, bind_address, bound_threads, create_api
from tray_agent.app import App
from tray_agent.run import channel_setup
from tray_agent.run.runtime import Runtime

if TYPE_CHECKING:
    from tray_agent.sandbox.autostart import AutoSandbox
    from tray_agent.team.upstream import TeamTasks


class Runner:
    """``await runner.serve()`` runs the agent until ``request_stop()`` (or a signal).

    Start order, each step needing the one before:

    1. channel set-up: ``[channels]`` from the config file into the store, and the sandbox
       choice (``channel_setup.prepare``) — before any adapter is built, so a channel made
       here gets one;
    2. the provider sandbox, when chosen, its webhooks pointed at this runner's address;
    3. the channel runtime: one adapter per enabled channel, then the background tasks
       (outbox, sweeps, pollers, health, change watch) under the supervisor — or, in team
       mode (``[team] server``), instead of steps 1-3 the sync task and the upstream sender;
    4. the plugins' ``agent_started`` hook;
    5. the API server, until asked to stop.

    Stop order is the reverse: the API server (open event streams end first), the runtime
    (its tasks, then the adapters), the sandbox.

    ``background=False`` skips steps 1-3: the caller builds the adapters and drives the
    outbox itself through ``runtime`` (the plugin kit, whose steps are deterministic).
    """

    def __init__(self, app: App | None = None, *, host: str | None = None, port: int | None = None,
                 token: str | None = None, desktop: Desktop | None = None, background: bool = True) -> None:
        self.app = app = app if app is not None else App()
        self.host, self.port = bind_address(host or app.config.api.host, port or app.config.api.port)
        self.url = f"http://{self.host}:{self.port}"
        self.background = background
        self.runtime = Runtime(app, app.config.api.public_url or self.url)
        self.state = ApiState(app=app, runner=self, desktop=desktop,
                              token=token or security.load_or_create_token(app.paths.token_file))
        self.api = create_api(self.state)
        self.server = ApiServer(self.api, self.state, self.host, self.port)
        #: The sandbox this runner started (step 2), until it stops.
        self.sandbox: "AutoSandbox | None" = None
        #: Team mode's sync task and upstream sender (instead of the channel runtime).
        self.team: "TeamTasks | None" = None
        self._started = False
        self._stop_requested = False

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def started(self) -> bool:
        """Is the API answering?"""
        return self.server.started

    async def serve(self) -> None:
        """Start everything, serve until asked to stop, then stop everything."""
        bound_threads()
        try:
            await self.start()
            if not self._stop_requested:  # a Ctrl+C while the sandbox started: stop, do not serve
                await self.server.serve()
        finally:
            await self.stop()

    async def start(self) -> None:
        """Steps 1-4, in the running event loop."""
        if self._started:  # a runtime that has stopped does not start again: make a new Runner
            raise RuntimeError("This Runner has already started.")
        self._started = True
        if self.background and self.app.config.team_mode:
            # A team desktop runs no channels, webhooks or sandbox: the server does; it syncs.
            from tray_agent.team.upstream import TeamTasks

            self.team = TeamTasks(self.app.inbox, self.app.tasks)  # type: ignore[arg-type]
            self.team.start()
        elif self.background:
            if channel_setup.prepare(self.app):
                # The sandbox's server is imported only when it runs.
                from tray_agent.sandbox.autostart import start_for

                self.sandbox = await start_for(self.app, self.runtime.public_base_url, lambda: self.started)
            self.runtime.start()
        self.app.plugins.call_each("agent_started", app=self.app)

    async def stop(self) -> None:
        """Undo what ``start`` did, once the API server has stopped."""
        try:
            if self.team is not None:
                await self.team.stop()
            await self.runtime.stop()  # also closes the adapters a background=False caller built
        finally:
            sandbox, self.sandbox = self.sandbox, None
            if sandbox is not None:
                await sandbox.stop()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def request_stop(self) -> None:
        """Ask the API server to stop (from any thread or a signal handler); ``serve`` then
        stops the rest. Asked while starting, it does not serve at all."""
        self._stop_requested = True
        self.server.should_exit()
