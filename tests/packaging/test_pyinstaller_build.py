"""The Linux PyInstaller build, built once per session into a temporary folder and run as
a user would: --version, doctor, plugins (entry points from the bundled metadata) and the
agent started headless, answering its API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "packaging" / "pyinstaller" / "tray-agent-linux.spec"
BUILD_BUDGET_S = 300

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux spec")]


@pytest.fixture(scope="session")
def frozen_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pyinstaller")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(root / "dist"), "--workpath", str(root / "work"), str(SPEC)],
        capture_output=True, text=True, timeout=BUILD_BUDGET_S * 2, cwd=root)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "ERROR" not in proc.stderr, proc.stderr[-4000:]
    app = root / "dist" / "tray-agent" / "tray-agent"
    size = sum(f.stat().st_size for f in app.parent.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"\nPyInstaller build: {seconds:.0f} s, bundle {size / 2**20:.0f} MiB")
    assert seconds < BUILD_BUDGET_S, f"the build took {seconds:.0f} s"
    return app


@pytest.fixture
def frozen_env(tmp_path: Path) -> dict[str, str]:
    """A temporary home and no desktop: the frozen app must run headless."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "TRAY_AGENT_LOAD_PLUGINS",
                        "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(TRAY_AGENT_HOME=str(tmp_path / "home"), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return env


def run(app: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(app), *args], capture_output=True, text=True, env=env, timeout=60)


def test_frozen_app_answers_version(frozen_app: Path, frozen_env: dict[str, str]) -> None:
    from tray_agent import __version__

    r = run(frozen_app, frozen_env, "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"tray-agent, version {__version__}"


def test_frozen_app_is_self_contained(frozen_app: Path) -> None:
    internal = frozen_app.parent / "_internal"
    assert (internal / "tray_agent" / "core" / "migrations" / "versions").is_dir()
    assert (internal / "tray_agent" / "assets" / "icons" / "tray-agent-48.png").is_file()
    assert not (internal / "pytest").exists() and not (internal / "_pytest").exists()


def test_frozen_doctor_migrates_a_new_home_and_finds_the_plugins(frozen_app: Path, frozen_env: dict[str, str]) -> None:
    r = run(frozen_app, frozen_env, "doctor", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["database"]["schema_revision"]
    assert Path(report["paths"]["data"]).is_relative_to(frozen_env["TRAY_AGENT_HOME"])
    # Channel types come from the plugins' entry points: only there if copy_metadata worked.
    assert "telegram" in report["channel_types"]
    assert report["plugin_errors"] == []


def test_frozen_plugins_lists_each_bundled_distribution(frozen_app: Path, frozen_env: dict[str, str]) -> None:
    r = run(frozen_app, frozen_env, "plugins", "--json")
    assert r.returncode == 0, r.stderr
    plugins = {p["name"]: p for p in json.loads(r.stdout)}
    assert plugins["telegram"]["distribution"] == "tray-agent-telegram"
    assert plugins["telegram"]["hooks"] == ["register_channel_types"] and not plugins["telegram"]["errors"]
    assert plugins["tel_call_handler"]["distribution"] == "tray-agent"
    assert all(not p["errors"] for p in plugins.values()), plugins


def test_frozen_app_runs_only_its_own_modules_with_dash_m(frozen_app: Path, frozen_env: dict[str, str]) -> None:
    r = run(frozen_app, frozen_env, "-m", "os")
    assert r.returncode != 0 and r.stderr.strip() == "error: os is not part of Tray Agent"


@pytest.mark.parametrize("command", [["serve"], []], ids=["serve", "daemon-headless"])
def test_frozen_agent_starts_headless_and_answers_its_api(frozen_app: Path, frozen_env: dict[str, str],
                                                          command: list[str]) -> None:
    with _started(frozen_app, frozen_env, command) as (url, token):
        auth = {"Authorization": f"Bearer {token}"}
        types = httpx.get(f"{url}/api/channel-types", headers=auth, timeout=10)
        assert types.status_code == 200
        assert "telegram" in {t["name"] for t in types.json()}
        assert httpx.get(f"{url}/api/channel-types", timeout=10).status_code == 401


class _started:
    """Start the frozen agent, wait for its address line, stop it with SIGTERM afterwards."""

    def __init__(self, app: Path, env: dict[str, str], command: list[str]) -> None:
        self.proc = subprocess.Popen([str(app), *command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        self.home = Path(env["TRAY_AGENT_HOME"])

    def __enter__(self) -> tuple[str, str]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"running at (http://127\.0\.0\.1:\d+)", line)
            if m:
                url = m.group(1)
                token = (self.home / "config" / "api-token").read_text().strip()
                for _ in range(100):
                    try:
                        httpx.get(url, timeout=1)
                        return url, token
                    except httpx.HTTPError:
                        time.sleep(0.1)
        self.__exit__()
        raise AssertionError("the frozen agent did not start:\n" + "".join(lines))

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("the frozen agent ignored SIGTERM") from None
        if exc and exc[0] is None:
            assert code in (0, -signal.SIGTERM), f"exit status {code}"
