"""Draws the Tray Agent application icon with Pillow at every hicolor size and writes the
PNGs (and the matching SVG) into tray_agent/assets/icons/. Run it when the design changes:

    python packaging/icons/draw_app_icon.py

The drawing is the project's own: a rounded square with a speech bubble and three dots.
Each size is drawn at 8x and scaled down, so small sizes stay crisp instead of jagged.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
BACKGROUND = (37, 99, 235, 255)  # the window's accent blue
BUBBLE = (255, 255, 255, 255)
DOTS = (37, 99, 235, 255)
OUT = Path(__file__).resolve().parents[2] / "tray_agent" / "assets" / "icons"

# The same geometry in a 64-unit box, shared with the SVG so both look alike.
SQUARE = (2, 2, 62, 62, 14)  # x0, y0, x1, y1, corner radius
BUBBLE_BOX = (13, 15, 51, 43, 10)
TAIL = ((20, 41), (18, 53), (31, 42))
DOT_CENTRES = ((23, 29), (32, 29), (41, 29))
DOT_R = 3.6


def draw(size: int) -> Image.Image:
    scale = size * 8 / 64
    big = Image.new("RGBA", (size * 8, size * 8), (0, 0, 0, 0))
    d = ImageDraw.Draw(big)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (x0 * scale, y0 * scale, x1 * scale, y1 * scale)

    x0, y0, x1, y1, r = SQUARE
    d.rounded_rectangle(box(x0, y0, x1, y1), radius=r * scale, fill=BACKGROUND)
    x0, y0, x1, y1, r = BUBBLE_BOX
    d.rounded_rectangle(box(x0, y0, x1, y1), radius=r * scale, fill=BUBBLE)
    d.polygon([(x * scale, y * scale) for x, y in TAIL], fill=BUBBLE)
    if size >= 22:  # at 16 px the dots turn to mush; the bubble alone reads better
        for cx, cy in DOT_CENTRES:
            d.ellipse(box(cx - DOT_R, cy - DOT_R, cx + DOT_R, cy + DOT_R), fill=DOTS)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def svg() -> str:
    sx0, sy0, sx1, sy1, sr = SQUARE
    bx0, by0, bx1, by1, br = BUBBLE_BOX
    tail = " ".join(f"{x},{y}" for x, y in TAIL)
    dots = "".join(f'<circle cx="{cx}" cy="{cy}" r="{DOT_R}" fill="#2563eb"/>' for cx, cy in DOT_CENTRES)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
            f'<rect x="{sx0}" y="{sy0}" width="{sx1 - sx0}" height="{sy1 - sy0}" rx="{sr}" fill="#2563eb"/>'
            f'<rect x="{bx0}" y="{by0}" width="{bx1 - bx0}" height="{by1 - by0}" rx="{br}" fill="#fff"/>'
            f'<polygon points="{tail}" fill="#fff"/>{dots}</svg>\n')


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        draw(size).save(out / f"tray-agent-{size}.png", optimize=True)
    (out / "tray-agent.svg").write_text(svg())
    print(f"wrote {len(SIZES)} PNGs and tray-agent.svg to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
