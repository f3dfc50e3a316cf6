"""The tray icon, drawn with Pillow: a chat bubble, an unread badge ("99+" beyond 99) and
a do-not-disturb look (grey bubble with a moon). Every badge is drawn ahead into
``assets/tray-icons.zip``, so the daemon shows PNG bytes and never loads Pillow.

Run ``python -m tray_agent.desktop.icon`` to regenerate ``tray_agent/assets/icon.*`` and the sheet.
"""

from __future__ import annotations

import io
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image, ImageFont

SIZE = 64
BLUE = (31, 111, 235, 255)
GREY = (139, 148, 158, 255)
RED = (209, 36, 47, 255)
WHITE = (255, 255, 255, 255)
NIGHT = (56, 44, 110, 255)
ASSETS = Path(__file__).resolve().parent.parent / "assets"
#: Every tray image (each badge text, with and without do-not-disturb) as PNG, drawn ahead:
#: Pillow and its image libraries cost the idle daemon ~3 MB for a picture that changes
#: with the unread count only.
SHEET = "tray-icons.zip"

# Where the badge sits on a 64 px icon; tests read pixels here.
BADGE_CENTER = (46, 18)
BADGE_PROBE = (46, 7)  # red when the badge shows, above the digits
DND_CENTER = (48, 48)
BUBBLE_PROBE = (26, 42)  # inside the bubble, clear of the dots, badge and moon


def badge_text(count: int) -> str:
    """What the badge says: nothing for 0, the number up to 99, then "99+"."""
    if count <= 0:
        return ""
    return str(count) if count <= 99 else "99+"


@lru_cache(maxsize=4)
def _font(size: int) -> "ImageFont.FreeTypeFont | ImageFont.ImageFont":
    from PIL import ImageFont

    # A bold system face reads best at tray sizes; Pillow's bundled face always exists.
    # BASIC layout: digits need no shaping, and Raqm draws nothing once GTK has loaded the
    # system's older HarfBuzz into the process (seen with Debian 12's 6.0 vs Pillow's 14).
    for name in ("DejaVuSans-Bold.ttf", "arialbd.ttf", "Arial Bold.ttf", "Helvetica.ttc"):
        try:
            return ImageFont.truetype(name, size, layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def render(count: int = 0, dnd: bool = False, size: int = SIZE) -> "Image.Image":
    """The tray image for ``count`` unread conversations, greyed with a moon in DND."""
    from PIL import Image, ImageDraw

    scale = 4  # draw large and downsample: smooth edges without anti-aliasing support
    s = SIZE * scale
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return (int(x0 * scale), int(y0 * scale), int(x1 * scale), int(y1 * scale))

    bubble = GREY if dnd else BLUE
    d.rounded_rectangle(box(4, 12, 54, 48), radius=12 * scale, fill=bubble)
    d.polygon([(12 * scale, 44 * scale), (10 * scale, 60 * scale), (28 * scale, 46 * scale)], fill=bubble)
    for cx in (17, 29, 41):
        d.ellipse(box(cx - 4, 26, cx + 4, 34), fill=WHITE)

    if dnd:
        cx, cy, r = DND_CENTER[0], DND_CENTER[1], 15
        d.ellipse(box(cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2), fill=WHITE)
        d.ellipse(box(cx - r, cy - r, cx + r, cy + r), fill=NIGHT)
        d.ellipse(box(cx - 8, cy - 9, cx + 8, cy + 9), fill=WHITE)  # moon ...
        d.ellipse(box(cx - 3, cy - 12, cx + 11, cy + 5), fill=NIGHT)  # ... cut into a crescent

    text = badge_text(count)
    if text:
        cx, cy = BADGE_CENTER
        half_w = {1: 15, 2: 17, 3: 18}[len(text)]
        font = _font({1: 22, 2: 19, 3: 14}[len(text)] * scale)
        d.rounded_rectangle(box(cx - half_w - 2, cy - 17, min(cx + half_w + 2, 64), cy + 17),
                            radius=17 * scale, fill=WHITE)
        d.rounded_rectangle(box(cx - half_w, cy - 15, min(cx + half_w, 62), cy + 15),
                            radius=15 * scale, fill=RED)
        tx = min(cx, 62 - half_w + 1) * scale if len(text) == 3 else cx * scale
        d.text((tx, cy * scale + scale), text, font=font, fill=WHITE, anchor="mm")

    out = img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return out if size == SIZE else out.resize((size, size), Image.Resampling.LANCZOS)


def sheet_name(count: int, dnd: bool) -> str:
    """The tray image's name in the sheet: its badge text, or "none"; "-dnd" when quiet."""
    return f"{badge_text(count) or 'none'}{'-dnd' if dnd else ''}.png"


def _png(img: "Image.Image") -> bytes:
    from PIL import Image

    # A palette of 256 holds the icon's few colours and their edges (mean error ~1/255):
    # a third of the bytes of full RGBA. The octree drops low bits; the design's own
    # colours are put back exactly (tests and eyes compare the bubble and badge to them).
    quantized = img.quantize(256, method=Image.Quantize.FASTOCTREE)
    palette = quantized.getpalette("RGBA") or []
    for i in range(0, len(palette), 4):
        for colour in (BLUE, GREY, RED, WHITE, NIGHT):
            if max(abs(a - b) for a, b in zip(palette[i:i + 4], colour, strict=True)) <= 4:
                palette[i:i + 4] = colour
    quantized.putpalette(palette, "RGBA")
    buf = io.BytesIO()
    quantized.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def png(count: int = 0, dnd: bool = False, folder: Path = ASSETS) -> bytes:
    """The tray image for ``count`` and ``dnd`` as PNG, read from the sheet (drawn here only
    when the sheet is missing, as in a checkout that has not generated it)."""
    try:
        with zipfile.ZipFile(folder / SHEET) as sheet:
            return sheet.read(sheet_name(count, dnd))
    except (OSError, KeyError, zipfile.BadZipFile):
        return _png(render(count, dnd))


def write_sheet(folder: Path = ASSETS) -> Path:
    """Draw every tray image into the sheet (stored: PNG is compressed already)."""
    path = folder / SHEET
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as sheet:
        for count in range(101):  # 0 (no badge), 1-99, and 100 standing for "99+"
            for dnd in (False, True):
                info = zipfile.ZipInfo(sheet_name(count, dnd), date_time=(2020, 1, 1, 0, 0, 0))
                sheet.writestr(info, _png(render(count, dnd)))  # a fixed date: the same bytes each run
    return path


def write_assets(folder: Path = ASSETS) -> list[Path]:
    """The app icon (notifications, window, Windows .ico) and the tray sheet, from ``render``."""
    folder.mkdir(parents=True, exist_ok=True)
    png_path = folder / "icon.png"
    render(0, size=128).save(png_path, optimize=True)
    ico = folder / "icon.ico"
    render(0, size=64).save(ico, sizes=[(16, 16), (32, 32), (48, 48), (64, 64)])
    return [png_path, ico, write_sheet(folder)]


def asset(name: str) -> Path:
    return ASSETS / name


if __name__ == "__main__":
    for p in write_assets():
        print(p)
