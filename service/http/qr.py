"""The authorization request link as a QR code (segno: a maintained, dependency-free QR encoder)."""

from __future__ import annotations

from typing import Literal

import segno

__all__ = ["qr_code"]


def qr_code(link: str, image: Literal["svg", "png"]) -> str:
    """A ``data:`` URI; segno picks the smallest version that fits the link at error level M."""
    code = segno.make(link, error="m")
    # 4 px modules and the standard 4-module quiet zone: scannable from a screen at arm's length.
    return code.svg_data_uri(scale=4) if image == "svg" else code.png_data_uri(scale=4)
