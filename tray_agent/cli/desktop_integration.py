"""Linux desktop integration: ``tray-agent install-desktop`` puts a menu entry, the icons
(hicolor theme), optionally an autostart entry and a systemd user unit into the user's
XDG directories; ``tray-agent uninstall-desktop`` takes them away again. Nothing is
written outside XDG_DATA_HOME and XDG_CONFIG_HOME."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click

from tray_agent.cli import cli
from tray_agent.core.errors import TrayAgentError

APP_ID = "tray-agent"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
#: What the committed packaging/linux files carry; the installer puts the real path in.
PORTABLE_COMMAND = ["/usr/bin/env", "tray-agent"]


@dataclass(frozen=True)
class XdgDirs:
    data: Path
    config: Path

    @classmethod
    def from_env(cls) -> "XdgDirs":
        home = Path.home()
        # The spec says: unset or empty (or relative) means the default.
        data = os.environ.get("XDG_DATA_HOME") or ""
        config = os.environ.get("XDG_CONFIG_HOME") or ""
        return cls(Path(data) if os.path.isabs(data) else home / ".local" / "share",
                   Path(config) if os.path.isabs(config) else home / ".config")

    @property
    def desktop_file(self) -> Path:
        return self.data / "applications" / f"{APP_ID}.desktop"

    @property
    def autostart_file(self) -> Path:
        return self.config / "autostart" / f"{APP_ID}.desktop"

    @property
    def unit_file(self) -> Path:
        return self.config / "systemd" / "user" / f"{APP_ID}.service"

    @property
    def unit_wants_link(self) -> Path:
        return self.config / "systemd" / "user" / "default.target.wants" / f"{APP_ID}.service"

    def icon_file(self, size: int | None) -> Path:
        base = self.data / "icons" / "hicolor"
        if size is None:
            return base / "scalable" / "apps" / f"{APP_ID}.svg"
        return base / f"{size}x{size}" / "apps" / f"{APP_ID}.png"

    def all_files(self) -> list[Path]:
        return [self.desktop_file, self.autostart_file, self.unit_file,
                *(self.icon_file(s) for s in (*ICON_SIZES, None))]


def program_command() -> list[str]:
    """How to start this very installation: the frozen app, the venv's script, or -m."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.executable).with_name("tray-agent")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("tray-agent")
    return [found] if found else [sys.executable, "-m", "tray_agent"]


def _exec_line(argv: list[str]) -> str:
    """An Exec= value: arguments with reserved characters in double quotes (Desktop Entry spec)."""
    out = []
    for arg in argv:
        if any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
            arg = '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$") + '"'
        out.append(arg.replace("%", "%%"))
    return " ".join(out)


def desktop_entry(command: list[str], *, autostart: bool = False) -> str:
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        "Name=Tray Agent",
        "GenericName=Customer inbox",
        "Comment=Answer customers' SMS, WhatsApp and other messages from the system tray",
        f"Exec={_exec_line(command)}",
        f"TryExec={command[0]}" if command[0].startswith("/") and command[0] != "/usr/bin/env" else "",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Network;InstantMessaging;",
        "Keywords=inbox;sms;whatsapp;chat;support;customer;",
        "StartupNotify=false",
    ]
    if autostart:
        # Starting the daemon at log-in: it only shows its tray icon, no window.
        lines += ["X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-Delay=5", "X-KDE-autostart-after=panel"]
    return "\n".join(line for line in lines if line) + "\n"


def service_unit(command: list[str]) -> str:
    """A systemd user unit running the agent headless (API, channels, outbox; no tray)."""
    return "\n".join([
        "[Unit]",
        "Description=Tray Agent (headless: local API, channels and outbox)",
        "",
        "[Service]",
        "Type=simple",
        # systemd expands %-specifiers in ExecStart: a literal % in a path must be doubled.
        f"ExecStart={shlex.join([*command, 'serve']).replace('%', '%%')}",
        # Headless sessions usually have no keyring: channel secrets can come from
        # TRAY_AGENT_SECRET_<CHANNEL>_<NAME> variables in this optional file.
        "EnvironmentFile=-%h/.config/tray-agent/service.env",
        "Environment=PYTHONUNBUFFERED=1",
        "Restart=on-failure",
        "RestartSec=5",
        "NoNewPrivileges=true",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ])


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)


def install(dirs: XdgDirs, command: list[str], *, autostart: bool, systemd: bool) -> list[Path]:
    icons = resources.files("tray_agent").joinpath("assets", "icons")
    written = []
    for size in ICON_SIZES:
        _write(dirs.icon_file(size), icons.joinpath(f"{APP_ID}-{size}.png").read_bytes())
        written.append(dirs.icon_file(size))
    _write(dirs.icon_file(None), icons.joinpath(f"{APP_ID}.svg").read_bytes())
    written.append(dirs.icon_file(None))
    _write(dirs.desktop_file, desktop_entry(command))
    written.append(dirs.desktop_file)
    if autostart:
        _write(dirs.autostart_file, desktop_entry(command, autostart=True))
        written.append(dirs.autostart_file)
    elif dirs.autostart_file.exists():
        dirs.autostart_file.unlink()  # re-running without --autostart turns it off
    if systemd:
        _write(dirs.unit_file, service_unit(command))
        written.append(dirs.unit_file)
    return written


def uninstall(dirs: XdgDirs) -> list[Path]:
    removed = []
    for path in [*dirs.all_files(), dirs.unit_wants_link]:
        if path.is_symlink() or path.exists():
            path.unlink()
            removed.append(path)
    return removed


def tel_handler_note() -> str:
    """What handles tel: links now, and how to pick a softphone for elevate-to-call."""
    current = "unknown (xdg-mime is not installed)"
    if shutil.which("xdg-mime"):
        try:
            proc = subprocess.run(["xdg-mime", "query", "default", "x-scheme-handler/tel"],
                                  capture_output=True, text=True, timeout=10)
            current = proc.stdout.strip() or "nothing (no program is set for tel: links)"
        except (OSError, subprocess.SubprocessError) as exc:
            current = f"unknown ({exc})"
    return ("Calls: 'elevate to call' opens tel: links with the desktop's handler.\n"
            f"  tel: links open with: {current}\n"
            "  To choose your softphone:  xdg-mime default <softphone>.desktop x-scheme-handler/tel\n"
            "  To check:                  xdg-mime query default x-scheme-handler/tel")


def _require_linux() -> None:
    if not sys.platform.startswith("linux"):
        raise TrayAgentError("install-desktop is for Linux desktops; on macOS and Windows the installer "
                             "adds the menu entry.")


@cli.command("install-desktop")
@click.option("--autostart", is_flag=True, help="Also start the tray daemon when you log in.")
@click.option("--systemd", is_flag=True, help="Also install a systemd user unit running `tray-agent serve`.")
def install_desktop(autostart: bool, systemd: bool) -> None:
    """Add Tray Agent to the desktop's menu (with icons), optionally to autostart."""
    _require_linux()
    dirs = XdgDirs.from_env()
    written = install(dirs, program_command(), autostart=autostart, systemd=systemd)
    click.echo(f"Installed the menu entry {dirs.desktop_file} and {len(ICON_SIZES) + 1} icons.")
    click.echo(f"Autostart: {'on (' + str(dirs.autostart_file) + ')' if autostart else 'off'}")
    if systemd:
        click.echo(f"Installed {dirs.unit_file}. Start it with:\n"
                   "  systemctl --user daemon-reload && systemctl --user enable --now tray-agent.service")
    click.echo(tel_handler_note())
    if not written:
        raise TrayAgentError("Nothing was installed.")


@cli.command("uninstall-desktop")
def uninstall_desktop() -> None:
    """Remove the menu entry, icons, autostart entry and systemd unit install-desktop added."""
    _require_linux()
    dirs = XdgDirs.from_env()
    if dirs.unit_wants_link.is_symlink() or dirs.unit_wants_link.exists():
        click.echo("The systemd unit was enabled; run `systemctl --user disable --now tray-agent.service` "
                   "if it is still running.")
    removed = uninstall(dirs)
    click.echo(f"Removed {len(removed)} files." if removed else "Nothing to remove: the desktop integration "
               "was not installed.")
