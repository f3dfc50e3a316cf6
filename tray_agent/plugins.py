"""The plugin manager: one pluggy PluginManager loading entry points of group ``tray_agent``.

Built-in plugins come through the same entry points as a third party's. Each entry point
is loaded and each hook implementation called on its own, so one broken plugin is logged,
remembered for ``plugins``/``doctor``, and never takes the agent or other plugins down.
A hook implementation named after no hook (a misspelling) is that plugin's failure too.
``TRAY_AGENT_LOAD_PLUGINS`` (comma-separated entry-point names; empty for none) picks
which installed plugins load, so tests and bug reports run with a known set;
``TRAY_AGENT_TRACE_PLUGINS=1`` logs each hook call (plugin, hook, outcome, time).
"""

from __future__ import annotations

import difflib
import logging
import os
import time
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
TRACE_VARIABLE = "TRAY_AGENT_TRACE_PLUGINS"
HOOK_NAMES = [name for name, f in vars(hookspecs).items() if hasattr(f, f"{GROUP}_spec")]


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
        self._trace = os.environ.get(TRACE_VARIABLE, "").strip() not in ("", "0")

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
                self.register(ep.load(), name=ep.name)
            except Exception:  # a plugin that cannot even load is reported, not fatal
                self._fail(ep.name, "load", traceback.format_exc())

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin (an entry point's, or in-process: tests, embedding)."""
        registered = self.pm.register(plugin, name=name) or ""
        self._check_hook_names(plugin, registered)
        return registered

    def _check_hook_names(self, plugin: object, name: str) -> None:
        # pluggy's check_pending(), for one plugin: it raises at the first unknown hook of
        # any plugin, where a misspelled hook (never called) is only its plugin's failure.
        for caller in self.pm.get_hookcallers(plugin) or []:
            mine = [i for i in caller.get_hookimpls() if i.plugin is plugin]
            if caller.has_spec() or all(i.optionalhook for i in mine):
                continue
            close = difflib.get_close_matches(caller.name, HOOK_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self._fail(name, caller.name,
                       f"{caller.name!r} is not a Tray Agent hook{hint}, so it is never called")

    def has_impls(self, hook: str) -> bool:
        """Does any plugin implement ``hook``? (Lets a caller skip work nobody listens to.)"""
        return bool(getattr(self.pm.hook, hook).get_hookimpls())

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)

    def call_each(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of ``hook`` on its own; failures are recorded, not raised."""
        results = []
        caller = getattr(self.pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            try:
                res = self._call(hook, impl, {k: kwargs[k] for k in impl.argnames})
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
                self._call(hook, impl, {"register": registered.append, **kwargs})
            except Exception:
                self._fail(impl.plugin_name, hook, traceback.format_exc())
                continue
            found.extend((impl.plugin_name, item) for item in registered)
        return found

    def _call(self, hook: str, impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
        # Each implementation is called on its own (one failing never stops the others), so
        # pluggy's own hook-call monitoring would see nothing: the trace is taken here.
        if not self._trace:
            return impl.function(**kwargs)
        started, outcome = time.perf_counter(), "returned"
        try:
            return impl.function(**kwargs)
        except BaseException as exc:
            outcome = f"raised {type(exc).__name__}"
            raise
        finally:
            # Names only: arguments carry customers' messages and inbox state.
            log.info("plugin %s: %s(%s) %s in %.1f ms", impl.plugin_name, hook, ", ".join(kwargs),
                     outcome, (time.perf_counter() - started) * 1000)

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
