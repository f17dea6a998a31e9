"""Cited boxes drawn on a page image (PIL): what a click on a citation shows."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

from docqa.types import Box


def highlight(
    png: bytes, page_width: float, page_height: float, boxes: Sequence[Box], pad: float = 2.0
) -> bytes:
    """The page image with each box (PDF points, origin top left, as PyMuPDF gives them) filled
    translucent yellow and outlined; the image's own scale is read from its size."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    sx, sy = image.width / page_width, image.height / page_height
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for b in boxes:
        rect = ((b.x0 - pad) * sx, (b.y0 - pad) * sy, (b.x1 + pad) * sx, (b.y1 + pad) * sy)
        draw.rectangle(rect, fill=(255, 221, 0, 90), outline=(230, 120, 0, 255), width=3)
    out = io.BytesIO()
    Image.alpha_composite(image, layer).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def zoom(
    png: bytes, page_width: float, page_height: float, boxes: Sequence[Box], margin: float = 36.0
) -> bytes:
    """The part of the page image around the boxes (with `margin` points on every side, the
    page's full width kept so lines read whole), for a close look at the cited text."""
    if not boxes:
        return png
    image = Image.open(io.BytesIO(png))
    sy = image.height / page_height
    top = max(0.0, min(b.y0 for b in boxes) - margin) * sy
    bottom = min(page_height, max(b.y1 for b in boxes) + margin) * sy
    out = io.BytesIO()
    image.crop((0, int(top), image.width, int(bottom) + 1)).save(out, format="PNG")
    return out.getvalue()
