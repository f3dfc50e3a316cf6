"""config.toml and its environment variables are checked at load, as a user meets them on
the command line: a misspelt name or a value a setting does not take is one line naming it
and the file (or the variable), exit 1, with the closest known name suggested."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tray_agent.cli import cli
from tray_agent.config import load
from tray_agent.paths import Paths


def run(home: Paths, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home.data.parent), *args], env=env)


def one_line_error(r) -> str:  # type: ignore[no-untyped-def]
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    return lines[0]


def test_a_sandbox_mode_it_does_not_take_is_one_line_naming_it_as_typed_in_a_shell(home: Paths) -> None:
    home.config_file.write_text('[sandbox]\nmode = "of"\n')
    out = subprocess.run([sys.executable, "-m", "tray_agent", "inbox"], capture_output=True, text=True,
                         env={**os.environ, "TRAY_AGENT_HOME": str(home.data.parent)}, timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        f"error: Setting sandbox.mode in {home.config_file} is 'of'; use one of auto, on, off (did you mean off?)."]


def test_a_misspelt_setting_names_the_file_and_the_closest_known_one(home: Paths) -> None:
    home.config_file.write_text("[api]\nprot = 1\n")
    assert one_line_error(run(home, "inbox")) == \
        f"error: Unknown setting api.prot in {home.config_file}; did you mean api.port?"


@pytest.mark.parametrize("text, says", [
    ('[sandboxx]\nmode = "off"\n', "Unknown section [sandboxx] in {file}; did you mean [sandbox]?"),
    ("port = 8080\n", "Unknown setting port in {file}; did you mean api.port or sandbox.port?"),
    ('[log]\nlevle = "DEBUG"\n', "Unknown setting log.levle in {file}; did you mean log.level?"),
    ('[api]\nzzz = 1\n', "Unknown setting api.zzz in {file}; known: api.host, api.port, api.public_url."),
    ('[channels.Shop]\nkind = "sms"\nbuisness_address = "+14155550100"\n',
     "Unknown setting channels.Shop.buisness_address in {file}; did you mean channels.Shop.business_address?"),
    ('[log]\nlevel = "LOUD"\n', "Setting log.level in {file} is 'LOUD'; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL."),
    ('[api]\nport = "eighty"\n', "Setting api.port in {file} must be a whole number, not 'eighty'."),
    ('[api]\nport = true\n', "Setting api.port in {file} must be a whole number, not True."),
    ('[api]\nhost = ["127.0.0.1"]\n', "Setting api.host in {file} takes one value, not a list."),
    ('api = "127.0.0.1"\n', "[api] in {file} must be a table of settings, not '127.0.0.1'."),
])
def test_each_kind_of_mistake_in_the_file_is_one_line(home: Paths, text: str, says: str) -> None:
    home.config_file.write_text(text)
    assert one_line_error(run(home, "doctor")) == "error: " + says.format(file=home.config_file)


def test_the_environment_variables_are_checked_the_same_way(home: Paths) -> None:
    r = run(home, "inbox", env={"TRAY_AGENT_SANDBOX_MODE": "of"})
    assert one_line_error(r) == \
        "error: Setting sandbox.mode from TRAY_AGENT_SANDBOX_MODE is 'of'; use one of auto, on, off (did you mean off?)."
    r = run(home, "inbox", env={"TRAY_AGENT_API_PORT": "80x"})
    assert one_line_error(r) == "error: Setting api.port from TRAY_AGENT_API_PORT must be a whole number, not '80x'."


def test_what_the_program_writes_and_reads_still_loads(home: Paths) -> None:
    home.config_file.write_text(
        '[sandbox]\nmode = "OFF"\n[log]\nlevel = "debug"\n[api]\nport = "8080"\n'
        '[calls]\nuri_scheme = "sip"\n[calls.yeastar]\npbx_url = "https://pbx.example"\n'
        '[channels."Shop SMS"]\nkind = "sms"\nbusiness_address = "+14155550100"\nauto_close_seconds = 3600\n'
        '[channels."Shop SMS".settings]\npoll = "on"\n')
    cfg = load(home, environ={"TRAY_AGENT_LOG_LEVEL": "Warning"})
    assert (cfg.sandbox.mode, cfg.log.level, cfg.api.port) == ("off", "WARNING", 8080)  # as the type spells it
    assert cfg.calls.handlers == {"yeastar": {"pbx_url": "https://pbx.example"}}
    assert cfg.channels["Shop SMS"]["settings"] == {"poll": "on"}
    cfg.save()
    assert load(home, environ={}).channels == cfg.channels  # the file it writes passes its own check
    assert run(home, "doctor", "--json").exit_code == 0
