"""The tray icon on a real X server: it docks in trayer, its badge follows the unread
count, and every menu item, clicked with xdotool, does its job."""

from __future__ import annotations

import re
import time

import pytest
from PIL import Image, ImageChops

from tray_agent.desktop import icon as drawing
from tests.desktop.conftest import close_chat_window, menu, tray_window, window_toplevel

pytestmark = pytest.mark.desktop

ALICE = "+14155550123"
BOB = "+14155550124"


def _is_red(px: tuple[int, ...]) -> bool:
    r, g, b, a = px
    return a > 200 and r > 180 and g < 80 and b < 80


def _looks_like(img: Image.Image, expected: Image.Image) -> bool:
    """Same picture, allowing the last bit of font anti-aliasing to differ by process."""
    diff = ImageChops.difference(img.convert("RGBA"), expected.convert("RGBA"))
    return sum(1 for px in _pixels(diff) if max(px) > 24) < 0.01 * img.width * img.height


def _pixels(img: Image.Image) -> list[tuple[int, ...]]:
    return list(img.get_flattened_data())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _tray_shot(desktop, artifacts_dir, name: str) -> Image.Image:
    g = desktop.window_geometry(tray_window(desktop))
    path = desktop.screenshot(artifacts_dir / name, crop=(g["WIDTH"], g["HEIGHT"], g["X"], g["Y"]))
    return Image.open(path).convert("RGB")


def test_icon_docks_in_the_tray_host(desktop_env, desktop, start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    wid = tray_window(desktop)
    geo = desktop.window_geometry(wid)
    assert geo["WIDTH"] >= 20 and geo["HEIGHT"] >= 20
    st = d.wait_status(lambda s: s["tray"]["embedded"] is True)
    assert st["tray"]["backend"] == "gtk" and st["headless_reason"] is None
    assert "no unread" in st["tray"]["tooltip"]
    desktop.screenshot(artifacts_dir / "screen.png")
    shot = _tray_shot(desktop, artifacts_dir, "tray.png")
    # The blue bubble is on screen, drawn by trayer from the image we gave pystray.
    assert any(b > 180 and r < 90 for r, g_, b in _pixels(shot))


def test_badge_shows_the_unread_count_and_changes_when_a_message_arrives(desktop_env, desktop, start_daemon,
                                                                         artifacts_dir):
    d = start_daemon(desktop_env)
    d.wait_status(lambda s: s["state"] is not None and s["tray"]["embedded"])
    before_img = d.icon()
    assert not _is_red(before_img.getpixel(drawing.BADGE_PROBE))
    before_screen = _tray_shot(desktop, artifacts_dir, "tray-before.png")

    d.inbound(ALICE, "Is my order on its way?", name="Alice Example")
    st = d.wait_status(lambda s: s["state"]["unread"] == 1)
    assert "1 unread" in st["tray"]["tooltip"]
    after_img = d.icon()
    after_img.save(artifacts_dir / "icon-held-by-pystray.png")
    assert _is_red(after_img.getpixel(drawing.BADGE_PROBE))
    assert _looks_like(after_img, drawing.render(1))
    time.sleep(0.5)  # trayer repaints the new image
    after_screen = _tray_shot(desktop, artifacts_dir, "tray-after.png")
    assert ImageChops.difference(before_screen, after_screen).getbbox() is not None
    assert sum(1 for px in _pixels(after_screen) if px[0] > 180 and px[1] < 80 and px[2] < 80) > 20

    d.inbound(BOB, "Hello?", name="Bob")
    d.wait_status(lambda s: s["state"]["unread"] == 2)
    assert _looks_like(d.icon(), drawing.render(2))


def test_left_click_opens_the_inbox_window(desktop_env, desktop, start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    wid = tray_window(desktop)
    desktop.xdotool("mousemove", "--window", wid, 20, 20, "click", 1)
    window_toplevel(desktop)
    st = d.wait_status(lambda s: s["window"]["open"])
    assert st["window"]["last_fragment"] == ""


def test_open_inbox_menu_item_opens_the_window_and_closing_it_ends_its_process(desktop_env, desktop,
                                                                             start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    menu(desktop, "Down", "Return")  # the first item
    window_toplevel(desktop)
    st = d.wait_status(lambda s: s["window"]["open"])
    pid = st["window"]["pid"]
    assert pid and pid != d.proc.pid  # its own process, not the daemon
    with open(f"/proc/{pid}/maps") as f:
        assert "libwebkit2gtk" in f.read()
    with open(f"/proc/{d.proc.pid}/maps") as f:
        daemon_maps = f.read()
    assert "libwebkit2gtk" not in daemon_maps  # WebKit never loads into the daemon
    # Nor does a GL driver (GDK probes GL when it opens the display; llvmpipe stays ~55 MB
    # resident), and that opt-out is the daemon's alone: the window's environment lacks it.
    assert not re.search(r"/dri/|libLLVM|libGLX_mesa", daemon_maps)
    with open(f"/proc/{pid}/environ", "rb") as f:
        assert b"GDK_GL=" not in f.read()
    # Opening again while it is open raises the same window, no second process.
    menu(desktop, "Down", "Return")
    time.sleep(1.0)
    st = d.status()
    assert st["window"]["pid"] == pid and st["window"]["opened"] == 1

    close_chat_window(desktop, d)
    assert d.proc.poll() is None  # the daemon lives on; the window's process (and memory) is gone
    assert f"window process {pid} exited (0)" in d.log()
    assert not _alive(pid)


def test_recent_unread_conversations_open_the_window_at_that_conversation(desktop_env, desktop, start_daemon,
                                                                          artifacts_dir):
    d = start_daemon(desktop_env)
    a = d.inbound(ALICE, "First question", name="Alice Example")
    b = d.inbound(BOB, "Second question", name="Bob Builder")
    st = d.wait_status(lambda s: s["state"]["unread"] == 2)
    assert [r[0] for r in st["state"]["recent"]] == [b["conversation_id"], a["conversation_id"]]
    assert st["state"]["recent"][0][1].startswith("Bob Builder — Second question")

    desktop.xdotool("mousemove", "--window", tray_window(desktop), 20, 20, "click", 3)
    time.sleep(0.8)
    desktop.screenshot(artifacts_dir / "menu.png", crop=(420, 320, 0, 0))
    desktop.xdotool("key", "--delay", "80", "Down", "Down", "Down", "Return")  # Open inbox, Bob, Alice
    st = d.wait_status(lambda s: s["window"]["open"], timeout=20)
    assert st["window"]["last_fragment"] == f"#/conversation/{a['conversation_id']}"
    window_toplevel(desktop)


def test_do_not_disturb_toggle_and_for_one_hour(desktop_env, desktop, start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    d.wait_status(lambda s: s["state"] is not None)
    menu(desktop, "Up", "Up", "Up", "Up", "Return")  # from the bottom: Quit, Settings, 1 hour, DND
    st = d.wait_status(lambda s: s["state"]["dnd_active"])
    assert st["state"]["dnd_manual"] and st["state"]["dnd_reason"] == "on"
    img = d.icon()
    assert _looks_like(img, drawing.render(0, dnd=True))
    assert img.getpixel(drawing.BUBBLE_PROBE)[:3] == drawing.GREY[:3]  # the bubble greys out
    time.sleep(0.5)
    _tray_shot(desktop, artifacts_dir, "tray-dnd.png")
    assert "do not disturb (on)" in st["tray"]["tooltip"]

    menu(desktop, "Up", "Up", "Up", "Up", "Return")  # the check item again: off
    d.wait_status(lambda s: not s["state"]["dnd_active"])
    assert _looks_like(d.icon(), drawing.render(0))

    menu(desktop, "Up", "Up", "Up", "Return")  # "for 1 hour"
    st = d.wait_status(lambda s: s["state"]["dnd_active"])
    assert st["state"]["dnd_reason"].startswith("until ")
    settings = d.api("GET", "/api/settings")
    assert settings["dnd"] is False and settings["dnd_until"]


def test_notification_settings_are_check_items(desktop_env, desktop, start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    d.wait_status(lambda s: s["state"] is not None)
    desktop.xdotool("mousemove", "--window", tray_window(desktop), 20, 20, "click", 3)
    time.sleep(0.8)
    desktop.xdotool("key", "--delay", "80", "Up", "Up", "Right")
    time.sleep(0.5)
    desktop.screenshot(artifacts_dir / "settings-submenu.png", crop=(480, 320, 0, 0))
    desktop.xdotool("key", "Return")  # Pop-up notifications
    d.wait_status(lambda s: s["state"]["popup"] is False)
    assert d.api("GET", "/api/settings")["popup"] is False

    menu(desktop, "Up", "Up", "Right", "Down", "Return")  # Sound
    d.wait_status(lambda s: s["state"]["sound"] is False)
    menu(desktop, "Up", "Up", "Right", "Return")
    st = d.wait_status(lambda s: s["state"]["popup"] is True)
    assert st["state"]["sound"] is False


def test_quit_stops_the_daemon_and_its_window(desktop_env, desktop, start_daemon):
    d = start_daemon(desktop_env)
    menu(desktop, "Down", "Return")
    st = d.wait_status(lambda s: s["window"]["open"], timeout=20)
    window_pid = st["window"]["pid"]
    menu(desktop, "Up", "Return")
    assert d.proc.wait(20) == 0
    assert not (d.home / "run" / "instance.json").exists()
    time.sleep(0.5)
    assert not _alive(window_pid)
