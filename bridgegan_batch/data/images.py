"""Image bytes to RGB arrays and back: format sniffing, guarded decoding, cropping, encoding."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

# Refuse images whose header declares more pixels than this, before any pixel is decoded.
MAX_PIXELS = 64_000_000
IMAGE_FORMATS = ("png", "jpg")


class ImageDecodeError(ValueError):
    """An image that cannot be decoded, with the reason."""


def sniff_format(data: bytes) -> str | None:
    """'png' or 'jpg' from the magic bytes, None when it is neither."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    return None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: scale to 8 bits rather than clip (PIL's convert would saturate).
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode != "I" else max(float(arr.max()), 1.0)
        image = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")  # transparent → white
    return image.convert("RGB")


def center_square(image: Image.Image) -> Image.Image:
    """The largest centred square of `image`."""
    w, h = image.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return image.crop((left, top, left + s, top + s))


def decode_rgb(data: bytes, size: int | None = None) -> np.ndarray:
    """Decode PNG/JPEG bytes to RGB, upright (EXIF), optionally centre-cropped and resized.

    Returns [H, W, 3] uint8 ([size, size, 3] when `size` is given). Raises ImageDecodeError.
    """
    if not data:
        raise ImageDecodeError("empty image (0 bytes)")
    if sniff_format(data) is None:
        raise ImageDecodeError("not a PNG or JPEG (unrecognised magic bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            w, h = image.size
            if w * h > MAX_PIXELS:
                raise ImageDecodeError(f"image declares {w}x{h} pixels, over the {MAX_PIXELS} limit")
            image.load()
            image = ImageOps.exif_transpose(image)
            image = _to_rgb(image)
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"undecodable image: {exc}") from exc
    if size is not None and image.size != (size, size):
        image = center_square(image).resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(image)


def encode_image(pixels: np.ndarray, fmt: str = "png", *, quality: int = 95,
                 compress_level: int = 6) -> bytes:
    """Encode [H, W, 3] uint8 pixels as PNG or JPEG bytes (deterministic for the same input)."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"image format must be one of {IMAGE_FORMATS}, got {fmt!r}")
    buf = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    if fmt == "png":
        image.save(buf, format="PNG", compress_level=compress_level)
    else:
        image.save(buf, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    return buf.getvalue()
