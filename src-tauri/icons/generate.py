#!/usr/bin/env python3
"""Draws Reelmap's app icon (a film reel on a rounded square) with the standard
library only and writes every size tauri.conf.json references:
32x32.png, 128x128.png, 128x128@2x.png, icon.png (512), icon.ico, icon.icns.

    python3 src-tauri/icons/generate.py
"""
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
BG = (27, 31, 42)
REEL = (245, 166, 35)
HUB = (27, 31, 42)


def coverage(size, x, y):
    """RGBA of pixel (x, y) for an icon of `size`, 4x4 supersampled."""
    acc = [0.0, 0.0, 0.0, 0.0]
    n = 4
    for sy in range(n):
        for sx in range(n):
            u = (x + (sx + 0.5) / n) / size  # 0..1
            v = (y + (sy + 0.5) / n) / size
            col = sample(u, v)
            if col is None:
                continue
            a = 1.0
            for i in range(3):
                acc[i] += col[i] * a
            acc[3] += a
    if acc[3] == 0:
        return (0, 0, 0, 0)
    return (
        round(acc[0] / acc[3]),
        round(acc[1] / acc[3]),
        round(acc[2] / acc[3]),
        round(255 * acc[3] / (n * n)),
    )


def sample(u, v):
    # Rounded square, corner radius 0.2, with a small margin.
    m, r = 0.04, 0.2
    if not (m <= u <= 1 - m and m <= v <= 1 - m):
        return None
    cx = min(max(u, m + r), 1 - m - r)
    cy = min(max(v, m + r), 1 - m - r)
    if (u - cx) ** 2 + (v - cy) ** 2 > r * r:
        return None
    dx, dy = u - 0.5, v - 0.5
    d = math.hypot(dx, dy)
    if d > 0.34:
        return BG
    if d < 0.06:
        return HUB
    # Five holes around the hub.
    for k in range(5):
        a = -math.pi / 2 + k * 2 * math.pi / 5
        hx, hy = 0.19 * math.cos(a), 0.19 * math.sin(a)
        if (dx - hx) ** 2 + (dy - hy) ** 2 < 0.085**2:
            return BG
    return REEL


def png(size):
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            row.extend(coverage(size, x, y))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def ico(images):
    """ICO with embedded PNGs: [(size, png_bytes)]."""
    head = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, blobs = b"", b""
    for size, data in images:
        s = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", s, s, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        blobs += data
    return head + entries + blobs


def icns(images):
    """ICNS with PNG entries: [(type, png_bytes)]."""
    body = b"".join(t + struct.pack(">I", 8 + len(d)) + d for t, d in images)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main():
    cache = {s: png(s) for s in (32, 64, 128, 256, 512)}
    out = {
        "32x32.png": cache[32],
        "128x128.png": cache[128],
        "128x128@2x.png": cache[256],
        "icon.png": cache[512],
        "icon.ico": ico([(32, cache[32]), (64, cache[64]), (256, cache[256])]),
        "icon.icns": icns([(b"ic07", cache[128]), (b"ic08", cache[256]), (b"ic09", cache[512])]),
    }
    for name, data in out.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
