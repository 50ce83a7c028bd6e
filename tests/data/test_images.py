import io

import numpy as np
import pytest
from PIL import Image

from bridgegan_batch.data.images import MAX_PIXELS, ImageDecodeError, decode_rgb, encode_image, sniff_format


def _png(image: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpeg(image: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def test_encode_decode_round_trip_and_determinism():
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    png = encode_image(pixels, "png")
    assert sniff_format(png) == "png" and png == encode_image(pixels, "png")
    assert np.array_equal(decode_rgb(png), pixels)
    jpg = encode_image(pixels, "jpg", quality=90)
    assert sniff_format(jpg) == "jpg" and decode_rgb(jpg).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="webp"):
        encode_image(pixels, "webp")


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "CMYK", "I;16"])
def test_any_mode_becomes_rgb(mode):
    image = Image.new("RGB", (20, 10), (200, 100, 50)).convert(mode)
    data = _jpeg(image) if mode == "CMYK" else _png(image)
    out = decode_rgb(data)
    assert out.shape == (10, 20, 3) and out.dtype == np.uint8


def test_16_bit_png_is_scaled_not_clipped():
    grey = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))
    out = decode_rgb(_png(grey))
    assert 120 <= out[0, 0, 0] <= 135


def test_exif_rotated_jpeg_is_made_upright():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    out = decode_rgb(_jpeg(image, exif=exif, quality=95))
    assert out.shape == (40, 20, 3)  # upright: taller than wide
    assert out[5, 10, 2] > 200 and out[35, 10, 0] > 200  # blue on top after the rotation


@pytest.mark.parametrize("shape", [(1, 1), (3000, 4000), (30, 50)])
def test_resize_takes_the_centre_square(shape):
    h, w = shape
    out = decode_rgb(encode_image(np.zeros((h, w, 3), np.uint8), "jpg", quality=80), size=32)
    assert out.shape == (32, 32, 3)


@pytest.mark.parametrize("data, reason", [
    (b"", "0 bytes"),
    (b"hello, I am text", "magic"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "undecodable"),
])
def test_bad_bytes_raise_a_reason(data, reason):
    with pytest.raises(ImageDecodeError, match=reason):
        decode_rgb(data)


def test_truncated_images_are_errors():
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for fmt in ("png", "jpg"):
        data = encode_image(pixels, fmt)
        with pytest.raises(ImageDecodeError):
            decode_rgb(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    side = int(MAX_PIXELS**0.5) + 100
    # A tiny PNG whose header declares side x side pixels (1-bit, highly compressible).
    data = _png(Image.new("1", (side, side)))
    assert len(data) < 2_000_000
    with pytest.raises(ImageDecodeError, match="limit"):
        decode_rgb(data)
