"""The service fixtures themselves: real PostgreSQL, a real Xvfb desktop, real Chromium."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.desktop import parse_notify_log


@pytest.mark.postgres
def test_postgres_answers_select_version(postgres_url):
    from sqlalchemy import create_engine, text

    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert postgres_url.endswith("/tray_agent_test")
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version()")).scalar_one()
            dbname = conn.execute(text("SELECT current_database()")).scalar_one()
    finally:
        engine.dispose()
    assert version.startswith("PostgreSQL ")
    assert dbname == "tray_agent_test"


@pytest.mark.postgres
def test_postgres_db_url_is_a_fresh_database_dropped_afterwards(postgres_server, postgres_db_url):
    import psycopg
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(postgres_db_url).database
    assert name != "tray_agent_test"
    engine = create_engine(postgres_db_url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")).scalar_one()
            assert tables == 0
            conn.execute(text("CREATE TABLE t (id int primary key)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        # A connection still open in the pool must not stop the drop at teardown.
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
        postgres_server.drop_database(name)
        with psycopg.connect(postgres_server.conninfo(), autocommit=True) as admin:
            assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                                 (name,)).fetchone()[0] == 0
    finally:
        engine.dispose()


def test_parse_notify_log_handles_quotes_and_newlines():
    log = (
        'signal time=1.0 sender=org.freedesktop.DBus -> destination=:1.0 serial=4 '
        'path=/org/freedesktop/DBus; interface=org.freedesktop.DBus; member=NameLost\n'
        '   string ":1.0"\n'
        'method call time=1795595774.815901 sender=:1.1 -> destination=org.freedesktop.Notifications '
        'serial=2 path=/org/freedesktop/Notifications; interface=org.freedesktop.Notifications; '
        'member=Notify\n'
        '   string "app"\n   uint32 0\n   string "icon"\n   string "Sum "q""\n'
        '   string "line1\nline2 "x""\n   array [\n   ]\n   array [\n   ]\n   int32 -1\n'
        # a call still being written is not reported yet
        'method call time=2.0 sender=:1.2 -> destination=org.freedesktop.Notifications serial=2 '
        'path=/org/freedesktop/Notifications; interface=org.freedesktop.Notifications; member=Notify\n'
        '   string "app2"\n   uint32 0\n'
    )
    [n] = parse_notify_log(log)
    assert (n.app_name, n.app_icon, n.summary, n.body) == ("app", "icon", 'Sum "q"', 'line1\nline2 "x"')
    assert n.sender == ":1.1"


@pytest.mark.desktop
def test_desktop_shows_and_records_a_notification(desktop, artifacts_dir):
    assert desktop.display.startswith(":")
    assert desktop.env["DISPLAY"] == desktop.display
    assert "WAYLAND_DISPLAY" not in desktop.env
    assert desktop.find_window("^panel$", timeout=5)  # trayer, the tray host

    before = len(desktop.notifications())
    subprocess.run(["notify-send", "--app-name=tray-agent-test", "Hello", "World"],
                   env=desktop.env, check=True, timeout=30, stdin=subprocess.DEVNULL)
    n = desktop.wait_for_notification(lambda n: n.summary == "Hello", timeout=10, since=before)
    assert (n.app_name, n.summary, n.body) == ("tray-agent-test", "Hello", "World")

    # dunst draws it top-right, a moment after the call; keep pictures as artifacts.
    popup = desktop.wait_for_popup(timeout=10)
    assert popup["X"] > 640 and popup["Y"] < 200, popup
    shot = desktop.screenshot(artifacts_dir / "screen.png")
    crop = desktop.screenshot(artifacts_dir / "popup.png",
                              crop=(popup["WIDTH"], popup["HEIGHT"], popup["X"], popup["Y"]))
    assert shot.stat().st_size > 1000 and crop.stat().st_size > 100
    desktop.close_popups()


@pytest.mark.browser
def test_chromium_page_reads_a_data_url_title(page):
    page.goto("data:text/html,<title>Tray%20Agent</title><h1>hi</h1>")
    assert page.title() == "Tray Agent"
    assert page.inner_text("h1") == "hi"
