"""Where Tray Agent keeps its files: the user's platform directories, or one folder.

Setting ``TRAY_AGENT_HOME`` puts everything (database, files, config, logs) under that
folder; tests and portable installs use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    data: Path
    config: Path
    logs: Path
    runtime: Path

    @property
    def database(self) -> Path:
        return self.data / "tray-agent.sqlite3"

    @property
    def team_cache(self) -> Path:
        """Team mode's local cache of what the team server lets this agent see."""
        return self.data / "team-cache.sqlite3"

    @property
    def files(self) -> Path:
        return self.data / "files"

    @property
    def config_file(self) -> Path:
        return self.config / "config.toml"

    @property
    def token_file(self) -> Path:
        return self.config / "api-token"

    @property
    def instance_file(self) -> Path:
        """Address and pid of the running daemon, for the single-instance check."""
        return self.runtime / "instance.json"

    def ensure(self) -> "Paths":
        for p in (self.data, self.config, self.logs, self.runtime, self.files):
            p.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def resolve(home: str | os.PathLike[str] | None = None) -> Paths:
    """The paths in force: ``home`` or ``$TRAY_AGENT_HOME`` if given, else platformdirs."""
    home = home or os.environ.get("TRAY_AGENT_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(root / "data", root / "config", root / "logs", root / "run")
    import platformdirs

    dirs = platformdirs.PlatformDirs("tray-agent", appauthor=False)
    runtime = Path(dirs.user_runtime_dir) if os.name == "posix" else Path(dirs.user_cache_dir)
    return Paths(Path(dirs.user_data_dir), Path(dirs.user_config_dir), Path(dirs.user_log_dir), runtime)
