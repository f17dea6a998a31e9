"""Cited boxes drawn on a page image (PIL): what a click on a citation shows."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

from docqa.types import Box

ZOOM_WIDTH = 900


def highlight(
    png: bytes,
    page_width: float,
    page_height: float,
    boxes: Sequence[Box],
    context: Sequence[Box] = (),
    pad: float = 2.0,
) -> bytes:
    """The page image with each box (PDF points, origin top left, as PyMuPDF gives them) filled
    translucent yellow and outlined, and each `context` box (the rest of the cited passage)
    outlined thinly; the image's own scale is read from its size."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    sx, sy = image.width / page_width, image.height / page_height
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)

    def rect(b: Box, grow: float) -> tuple[float, float, float, float]:
        return ((b.x0 - grow) * sx, (b.y0 - grow) * sy, (b.x1 + grow) * sx, (b.y1 + grow) * sy)

    for b in context:
        draw.rectangle(rect(b, pad + 3), outline=(230, 120, 0, 160), width=2)
    for b in boxes:
        draw.rectangle(rect(b, pad), fill=(255, 221, 0, 90), outline=(230, 120, 0, 255), width=2)
    out = io.BytesIO()
    Image.alpha_composite(image, layer).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def zoom(
    png: bytes, page_width: float, page_height: float, boxes: Sequence[Box], margin: float = 24.0
) -> bytes:
    """The part of the page image around the boxes (with `margin` points on every side), scaled
    up to at least `ZOOM_WIDTH` pixels wide so the cited lines read well in a narrow column."""
    if not boxes:
        return png
    image = Image.open(io.BytesIO(png))
    sx, sy = image.width / page_width, image.height / page_height
    left = max(0.0, min(b.x0 for b in boxes) - margin) * sx
    right = min(page_width, max(b.x1 for b in boxes) + margin) * sx
    top = max(0.0, min(b.y0 for b in boxes) - margin) * sy
    bottom = min(page_height, max(b.y1 for b in boxes) + margin) * sy
    crop = image.crop((int(left), int(top), int(right) + 1, int(bottom) + 1))
    if crop.width < ZOOM_WIDTH:
        f = ZOOM_WIDTH / crop.width
        crop = crop.resize((ZOOM_WIDTH, round(crop.height * f)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    crop.save(out, format="PNG")
    return out.getvalue()
