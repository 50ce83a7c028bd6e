"""Degradations that change how a face looks but none of its attributes: what a judge must see through.

A judge trained on clean renders alone reads texture as attributes: JPEG at quality 50 made the
flip-only judge see glasses that are not there on about half of held-out SynthFaces, and a
translated face carries that kind of texture. The judge trains on randomly degraded faces
(`degrade_randomly`) and reports its accuracy under fixed ones (`FIXED`), two of which it never
trains on (`HELD_OUT`), so its robustness is measured, not assumed.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter, ImageOps

Degradation = Callable[[Image.Image, float], Image.Image]


def _blur(img: Image.Image, sigma: float) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(sigma))


def _noise(img: Image.Image, sigma: float) -> Image.Image:
    pixels = np.asarray(img, dtype=np.float32)
    # Seeded from the pixels, so a degraded image is a pure function of (image, strength).
    rng = np.random.default_rng(int(pixels.sum()) + int(sigma * 1000))
    return Image.fromarray(np.clip(pixels + rng.normal(0.0, sigma, pixels.shape), 0, 255).round().astype(np.uint8))


def _jpeg(img: Image.Image, quality: float) -> Image.Image:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=int(round(quality)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _resample(img: Image.Image, factor: float) -> Image.Image:
    small = (max(1, round(img.width / factor)), max(1, round(img.height / factor)))
    return img.resize(small, Image.BILINEAR).resize(img.size, Image.BILINEAR)


def _posterize(img: Image.Image, bits: float) -> Image.Image:
    return ImageOps.posterize(img, int(bits))


def _sharpen(img: Image.Image, percent: float) -> Image.Image:
    return img.filter(ImageFilter.UnsharpMask(radius=2, percent=int(percent), threshold=0))


def _median(img: Image.Image, size: float) -> Image.Image:
    return img.filter(ImageFilter.MedianFilter(int(size)))


# Families the judge trains on, with the range of strengths it draws from.
TRAINED: dict[str, tuple[Degradation, float, float]] = {
    "blur": (_blur, 0.3, 1.5),  # Gaussian sigma, pixels
    "noise": (_noise, 2.0, 12.0),  # Gaussian sigma, of 255
    "jpeg": (_jpeg, 25.0, 90.0),  # quality
    "resample": (_resample, 1.3, 2.5),  # down by this factor, then back up (bilinear)
    "sharpen": (_sharpen, 50.0, 250.0),  # unsharp mask, radius 2, percent
}

# Fixed strengths the judge is measured under; the last two families are never trained on.
FIXED: dict[str, tuple[Degradation, float]] = {
    "blur 1.0": (_blur, 1.0),
    "noise 8": (_noise, 8.0),
    "jpeg 50": (_jpeg, 50.0),
    "resample x2": (_resample, 2.0),
    "sharpen 150 %": (_sharpen, 150.0),
    "posterize 4 bits": (_posterize, 4.0),
    "median 3": (_median, 3.0),
}
HELD_OUT = ("posterize 4 bits", "median 3")


def apply(images: np.ndarray, degradation: Degradation, strength: float) -> np.ndarray:
    """One degradation at one strength on every image. [M, H, W, 3] uint8 -> [M, H, W, 3] uint8"""
    return np.stack([np.asarray(degradation(Image.fromarray(im), strength)) for im in images])


def degrade_randomly(images: np.ndarray, rng: np.random.Generator, fraction: float = 0.5) -> np.ndarray:
    """Each image, with probability `fraction`, through one trained family at a random strength.
    [B, H, W, 3] uint8 -> [B, H, W, 3] uint8 (a new array; untouched images are copied)."""
    out = images.copy()
    families = list(TRAINED.values())
    for i in np.flatnonzero(rng.random(len(images)) < fraction):
        degradation, low, high = families[rng.integers(len(families))]
        out[i] = np.asarray(degradation(Image.fromarray(images[i]), rng.uniform(low, high)))
    return out
