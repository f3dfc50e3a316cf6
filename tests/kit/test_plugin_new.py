"""`tray-agent plugin new NAME`: the skeleton it writes installs with pip into a fresh
virtual environment and passes its own tests (the conformance suite included), and the
conformance suite catches a plugin that breaks the contract."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tray_agent.cli.plugin_kit import plugin_names, write_plugin


def tray_agent_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tray_agent", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_a_bad_name_is_refused_in_one_line(tmp_path: Path) -> None:
    r = tray_agent_cli("plugin", "new", "Acme Chat!", "--dir", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: 'acme chat!' is not a usable plugin name")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_package_is_not_overwritten(tmp_path: Path) -> None:
    assert tray_agent_cli("plugin", "new", "acme-chat", "--dir", str(tmp_path), cwd=tmp_path).returncode == 0
    again = tray_agent_cli("plugin", "new", "acme-chat", "--dir", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 1 and "exists already" in again.stderr


def test_the_skeleton_declares_its_entry_point_rules_and_icon(tmp_path: Path) -> None:
    names = plugin_names("tray-agent-acme-chat")  # the distribution name works too
    root = write_plugin(names, tmp_path)
    assert root.name == "tray-agent-acme-chat"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "tray-agent-acme-chat"
    assert project["project"]["entry-points"]["tray_agent"] == {"acme-chat": "tray_agent_acme_chat.plugin"}
    plugin = (root / "tray_agent_acme_chat" / "plugin.py").read_text()
    assert "ChannelRules(" in plugin and 'name="acme-chat"' in plugin and 'label="Acme Chat"' in plugin
    assert ET.parse(root / "tray_agent_acme_chat" / "icon.svg").getroot().get("viewBox")
    tests = {p.name for p in (root / "tests").iterdir()}
    assert {"test_acme_chat_conformance.py", "conftest.py", "fake_acme_chat_provider.py"} <= tests
    for py in root.rglob("*.py"):
        compile(py.read_text(), str(py), "exec")
        assert "{{" not in py.read_text(), f"unrendered placeholder in {py}"


# -- installed for real -------------------------------------------------------------------


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment that sees this one's packages (tray-agent, pytest) but
    installs the plugin into its own site-packages."""
    root = tmp_path_factory.mktemp("plugin-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    Path(site, "_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


def pip_install(python: Path, project: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                        "--no-deps", "--force-reinstall", str(project)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def run_tests(python: Path, project: Path, report: Path) -> tuple[int, dict[str, str]]:
    """Run the plugin's own tests from outside this repository; return (exit code, outcome by test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAY_AGENT_", "PYTEST_"))}
    r = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
                       cwd=project, capture_output=True, text=True, env=env, timeout=300)
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kind = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        outcomes[f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"] = kind
    assert outcomes, r.stdout + r.stderr
    return r.returncode, outcomes


@pytest.mark.slow
def test_generated_plugin_installs_in_a_fresh_venv_and_its_tests_pass(tmp_path: Path, venv: Path) -> None:
    project = write_plugin(plugin_names("acme-chat"), tmp_path)
    pip_install(venv, project)
    listed = subprocess.run([str(venv), "-m", "tray_agent", "plugins", "--json"], capture_output=True, text=True,
                            env={**os.environ, "TRAY_AGENT_HOME": str(tmp_path / "home")}, timeout=60)
    assert '"tray-agent-acme-chat"' in listed.stdout, listed.stderr
    code, outcomes = run_tests(venv, project, tmp_path / "report.xml")
    assert code == 0, {k: v for k, v in outcomes.items() if v != "passed"}
    conformance = [k for k in outcomes if k.startswith("TestAcmeChatConformance::")]
    assert len(conformance) >= 12 and all(outcomes[k] == "passed" for k in conformance)


BREAKAGES = {
    # A plugin that skips its signature check takes forged webhooks.
    "if not secret or not hmac.compare_digest(given, sign(secret, body)):": "if False:",
    # One that calls a rate limit final loses the message.
    "retryable=r.status_code == 429 or r.status_code >= 500,": "retryable=False,",
    # One that invents a new id per delivery stores re-deliveries twice.
    'provider_message_id=data["id"],': 'provider_message_id=data["id"] + str(id(request)),',
    # One that lets a parse error escape answers 500 (and the provider retries forever).
    'return None, JSONResponse({"error": "body is not JSON"}, 400)': "raise",
}


@pytest.mark.slow
def test_the_conformance_suite_catches_a_plugin_that_breaks_the_contract(tmp_path: Path, venv: Path) -> None:
    project = write_plugin(plugin_names("broken-chat"), tmp_path)
    adapter = project / "tray_agent_broken_chat" / "adapter.py"
    text = adapter.read_text()
    for good, bad in BREAKAGES.items():
        assert good in text, f"the template changed: update BREAKAGES ({good})"
        text = text.replace(good, bad)
    adapter.write_text(text)
    pip_install(venv, project)
    code, outcomes = run_tests(venv, project, tmp_path / "report.xml")
    failed = {k.split("::", 1)[1] for k, v in outcomes.items() if v in ("failure", "error")}
    assert code == 1
    assert {"test_unsigned_webhook_is_refused", "test_badly_signed_webhook_is_refused",
            "test_provider_failure_is_retried_and_nothing_is_lost[429-7.0]",
            "test_provider_failure_is_retried_and_nothing_is_lost[500-None]",
            "test_same_provider_message_is_stored_once", "test_bad_payloads_do_not_crash_the_agent"} <= failed
    assert "test_declares_rules_and_icon" not in failed
