"""Draw the page's PNG app icons (web/icons/icon-192.png, icon-512.png) from the shapes of
web/icons/icon.svg: a rounded square, a speech bubble with a tail, three dots.

Run: python scripts/make_icons.py  (numpy only; anti-aliased by 4x4 supersampling).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

ICONS = Path(__file__).resolve().parent.parent / "web" / "icons"
ACCENT = (0x33, 0x58, 0xD4)
WHITE = (0xFF, 0xFF, 0xFF)
SUPERSAMPLE = 4


def rounded_rect(x, y, left, top, width, height, radius):
    """Inside mask of a rounded rectangle (the SVG's rect with rx)."""
    cx = np.clip(x, left + radius, left + width - radius)
    cy = np.clip(y, top + radius, top + height - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def triangle(x, y, a, b, c):
    """Inside mask of the triangle a-b-c (same-side test on its three edges)."""
    def side(p, q):
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])
    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    return ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))


def draw(size: int) -> np.ndarray:
    """The icon as (size, size, 4) uint8 RGBA, drawn in the SVG's 512-unit coordinates."""
    n = size * SUPERSAMPLE
    coords = (np.arange(n) + 0.5) * (512 / n)
    x, y = np.meshgrid(coords, coords)                     # (n, n) float64 each
    background = rounded_rect(x, y, 0, 0, 512, 512, 112)
    bubble = rounded_rect(x, y, 96, 128, 320, 208, 56) | triangle(x, y, (152, 320), (152, 404), (240, 320))
    dots = np.zeros_like(background)
    for cx in (184, 256, 328):
        dots |= (x - cx) ** 2 + (y - 232) ** 2 <= 26**2
    rgb = np.empty((n, n, 3), np.float64)
    rgb[:] = ACCENT
    rgb[bubble & ~dots] = WHITE
    alpha = background.astype(np.float64)
    # average each SUPERSAMPLE x SUPERSAMPLE block (premultiplied, so edges blend with transparency)
    premult = np.concatenate([rgb * alpha[..., None], alpha[..., None] * 255], axis=2)    # (n, n, 4)
    pixels = premult.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 4).mean(axis=(1, 3))   # (size, size, 4)
    a = pixels[..., 3:4] / 255
    rgb_out = np.where(a > 0, pixels[..., :3] / np.maximum(a, 1e-9), 0)
    return np.concatenate([rgb_out, pixels[..., 3:4]], axis=2).round().clip(0, 255).astype(np.uint8)


def png(image: np.ndarray) -> bytes:
    """(H, W, 4) uint8 -> PNG bytes (8-bit RGBA, no filtering)."""
    height, width, _ = image.shape
    raw = b"".join(b"\0" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main() -> None:
    for size in (192, 512):
        (ICONS / f"icon-{size}.png").write_bytes(png(draw(size)))


if __name__ == "__main__":
    main()
