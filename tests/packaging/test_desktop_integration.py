"""`tray-agent install-desktop` / `uninstall-desktop` against temporary XDG directories:
the menu entry, hicolor icons, autostart only when asked, the systemd user unit, and the
tel: handler note, checked with the desktop's own tools where they are installed."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.fixtures._util import in_ci
from tray_agent.cli.desktop_integration import ICON_SIZES, XdgDirs, desktop_entry, service_unit

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux desktop integration")


@pytest.fixture
def xdg(tmp_path: Path) -> tuple[XdgDirs, dict[str, str]]:
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "TRAY_AGENT_HOME": str(tmp_path / "agent")}
    return XdgDirs(tmp_path / "data", tmp_path / "config"), env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tray_agent", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  (keys are case-sensitive)
    parser.read_string(path.read_text())
    return dict(parser["Desktop Entry"])


def validate(path: Path) -> None:
    """The freedesktop.org validator's verdict (required under CI; bootstrap installs it)."""
    if not shutil.which("desktop-file-validate"):
        if in_ci():
            pytest.fail("desktop-file-validate is missing (apt package desktop-file-utils)")
        return
    r = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def test_install_desktop_adds_menu_entry_and_icons_but_no_autostart(xdg) -> None:  # type: ignore[no-untyped-def]
    dirs, env = xdg
    r = cli(env, "install-desktop")
    assert r.returncode == 0, r.stderr
    fields = entry(dirs.desktop_file)
    assert fields["Name"] == "Tray Agent" and fields["Icon"] == "tray-agent" and fields["Type"] == "Application"
    program = fields["Exec"].split()[0]
    assert os.access(program, os.X_OK), f"Exec names {program}, which is not executable"
    validate(dirs.desktop_file)
    for size in ICON_SIZES:
        icon = dirs.data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "tray-agent.png"
        with Image.open(icon) as img:
            assert img.size == (size, size) and img.mode == "RGBA"
            assert img.getchannel("A").getbbox() is not None, f"{size}px icon is blank"
    assert (dirs.data / "icons" / "hicolor" / "scalable" / "apps" / "tray-agent.svg").read_text().startswith("<svg")
    assert not dirs.autostart_file.exists()
    assert not dirs.unit_file.exists()
    assert "Autostart: off" in r.stdout


def test_the_installed_entry_starts_this_installation(xdg) -> None:  # type: ignore[no-untyped-def]
    dirs, env = xdg
    cli(env, "install-desktop")
    argv = entry(dirs.desktop_file)["Exec"].split()
    r = subprocess.run([*argv, "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("tray-agent, version")


def test_autostart_only_when_asked_and_off_again_when_not(xdg) -> None:  # type: ignore[no-untyped-def]
    dirs, env = xdg
    assert cli(env, "install-desktop", "--autostart").returncode == 0
    fields = entry(dirs.autostart_file)
    assert fields["X-GNOME-Autostart-enabled"] == "true"
    assert fields["Exec"] == entry(dirs.desktop_file)["Exec"]
    validate(dirs.autostart_file)
    assert cli(env, "install-desktop").returncode == 0
    assert not dirs.autostart_file.exists()


def test_systemd_unit_runs_serve_and_verifies(xdg) -> None:  # type: ignore[no-untyped-def]
    dirs, env = xdg
    r = cli(env, "install-desktop", "--systemd")
    assert r.returncode == 0, r.stderr
    assert "systemctl --user enable --now tray-agent.service" in r.stdout
    unit = dirs.unit_file.read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith(" serve") and os.access(exec_start[len("ExecStart="):].split()[0], os.X_OK)
    assert "WantedBy=default.target" in unit
    if shutil.which("systemd-analyze"):
        v = subprocess.run(["systemd-analyze", "verify", str(dirs.unit_file)], capture_output=True, text=True)
        assert v.returncode == 0 and not v.stderr.strip(), v.stderr


def test_uninstall_removes_everything_it_added_and_nothing_else(xdg) -> None:  # type: ignore[no-untyped-def]
    dirs, env = xdg
    other = dirs.data / "applications" / "someone-else.desktop"
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\nType=Application\nName=Other\nExec=true\n")
    cli(env, "install-desktop", "--autostart", "--systemd")
    wants = dirs.unit_wants_link
    wants.parent.mkdir(parents=True)
    wants.symlink_to(dirs.unit_file)  # what `systemctl --user enable` leaves
    r = cli(env, "uninstall-desktop")
    assert r.returncode == 0, r.stderr
    assert "systemctl --user disable" in r.stdout
    assert [p for p in dirs.all_files() if p.exists()] == [] and not wants.is_symlink()
    assert other.exists()
    again = cli(env, "uninstall-desktop")
    assert again.returncode == 0 and "Nothing to remove" in again.stdout


def test_install_prints_how_to_choose_the_tel_handler_and_the_current_one(xdg) -> None:  # type: ignore[no-untyped-def]
    dirs, env = xdg
    if not shutil.which("xdg-mime"):
        pytest.skip("xdg-mime (xdg-utils) is not installed")
    softphone = dirs.data / "applications" / "softphone.desktop"
    softphone.parent.mkdir(parents=True)
    softphone.write_text("[Desktop Entry]\nType=Application\nName=Soft\nExec=true %u\n"
                         "MimeType=x-scheme-handler/tel;\n")
    r = cli(env, "install-desktop")
    assert "xdg-mime default <softphone>.desktop x-scheme-handler/tel" in r.stdout
    assert "  tel: links open with: " in r.stdout  # whatever the system has now
    subprocess.run(["xdg-mime", "default", "softphone.desktop", "x-scheme-handler/tel"], env=env, check=True)
    r = cli(env, "install-desktop")
    assert "tel: links open with: softphone.desktop" in r.stdout


@pytest.mark.parametrize("name,render", [
    ("tray-agent.desktop", lambda: desktop_entry(["tray-agent"])),
    ("tray-agent-autostart.desktop", lambda: desktop_entry(["tray-agent"], autostart=True)),
    ("tray-agent.service", lambda: service_unit(["/usr/bin/env", "tray-agent"])),
])
def test_committed_linux_files_match_what_the_installer_writes(name: str, render) -> None:  # type: ignore[no-untyped-def]
    committed = REPO / "packaging" / "linux" / name
    assert committed.read_text() == render(), "run python packaging/linux/regenerate.py"
    if name.endswith(".desktop"):
        validate(committed)


def test_exec_lines_quote_paths_with_spaces() -> None:
    text = desktop_entry(["/opt/Tray Agent/tray-agent", "--home", "/tmp/100%"])
    assert 'Exec="/opt/Tray Agent/tray-agent" --home /tmp/100%%\n' in text
    assert "ExecStart='/opt/Tray Agent/tray-agent' serve" in service_unit(["/opt/Tray Agent/tray-agent"])


def test_committed_icons_are_what_the_drawing_script_draws(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "packaging" / "icons" / "draw_app_icon.py"), str(tmp_path)],
                   check=True, capture_output=True)
    committed = REPO / "tray_agent" / "assets" / "icons"
    for size in ICON_SIZES:
        with Image.open(tmp_path / f"tray-agent-{size}.png") as fresh, \
                Image.open(committed / f"tray-agent-{size}.png") as kept:
            diff = [abs(a - b) for a, b in zip(fresh.tobytes(), kept.tobytes(), strict=False)]
            assert kept.size == (size, size) and sum(diff) / len(diff) < 2, f"{size}px icon differs"
    assert (tmp_path / "tray-agent.svg").read_text() == (committed / "tray-agent.svg").read_text()
