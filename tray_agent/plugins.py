"""The plugin manager: one pluggy PluginManager loading entry points of group ``tray_agent``.

Built-in plugins come through the same entry points as a third party's. Each entry point
is loaded and each hook implementation called on its own, so one broken plugin is logged,
remembered for ``plugins``/``doctor``, and never takes the agent or other plugins down.
``TRAY_AGENT_LOAD_PLUGINS`` (comma-separated entry-point names; empty for none) picks
which installed plugins load, so tests and bug reports run with a known set.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from tray_agent import hookspecs
from tray_agent.credentials import redact

log = logging.getLogger(__name__)
GROUP = "tray_agent"


@dataclass
class PluginFailure:
    plugin: str
    hook: str
    error: str


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    errors: list[str] = field(default_factory=list)


class PluginHost:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self.on_failure: Callable[[PluginFailure], None] | None = None

    def load_entry_points(self) -> None:
        wanted = os.environ.get("TRAY_AGENT_LOAD_PLUGINS")
        allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
        for ep in metadata.entry_points(group=GROUP):
            if allowed is not None and ep.name not in allowed:
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            self._dists[ep.name] = (dist, version)
            try:
                self.pm.register(ep.load(), name=ep.name)
            except Exception:  # a plugin that cannot even load is reported, not fatal
                self._fail(ep.name, "load", traceback.format_exc())

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register an in-process plugin (tests, embedding)."""
        return self.pm.register(plugin, name=name) or ""

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)

    def call_each(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of ``hook`` on its own; failures are recorded, not raised."""
        results = []
        caller = getattr(self.pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            try:
                res = impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception:
                self._fail(impl.plugin_name, hook, traceback.format_exc())
                continue
            if res is not None:
                results.append(res)
        return results

    def collect(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Run a registration hook, returning (plugin name, registered thing) pairs."""
        found: list[tuple[str, Any]] = []
        caller = getattr(self.pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            registered: list[Any] = []
            try:
                impl.function(**{"register": registered.append, **kwargs})
            except Exception:
                self._fail(impl.plugin_name, hook, traceback.format_exc())
                continue
            found.extend((impl.plugin_name, item) for item in registered)
        return found

    def report_failure(self, plugin: str, hook: str, error: str) -> None:
        self._fail(plugin, hook, error)

    def _fail(self, plugin: str, hook: str, error: str) -> None:
        error = redact(error)  # shown by `plugins` and `doctor`, and stored
        last = error.strip().splitlines()[-1] if error.strip() else error
        log.error("plugin %s failed in %s: %s", plugin, hook, last)
        log.debug("%s", error)
        failure = PluginFailure(plugin, hook, last)
        self.failures.append(failure)
        if self.on_failure is not None:
            try:
                self.on_failure(failure)
            except Exception:
                log.exception("could not record a plugin failure")

    def info(self) -> list[PluginInfo]:
        out = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda np: np[0]):
            dist, version = self._dists.get(name, (None, None))
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            errors = [f"{f.hook}: {f.error}" for f in self.failures if f.plugin == name]
            out.append(PluginInfo(name, dist, version, hooks, errors))
        loaded = {name for name, _ in self.pm.list_name_plugin()}
        for f in self.failures:
            if f.plugin not in loaded and f.hook == "load":
                dist, version = self._dists.get(f.plugin, (None, None))
                out.append(PluginInfo(f.plugin, dist, version, [], [f"load: {f.error}"]))
        return out
