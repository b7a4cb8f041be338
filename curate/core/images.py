"""Validate, describe and hash images: what the pipeline keeps, filters and deduplicates on.

An image is valid only if Pillow decodes all of it (a good header can sit on truncated data).
Limits are checked before the pixels are decoded: bytes first, then the pixel count from the
header, so a decompression bomb is refused without being expanded. Limits are arguments, never
Pillow's process-wide ``MAX_IMAGE_PIXELS``, so workers hold no global state.

Two hashes per image:
- ``pixel_hash``: XXH3-128 of the decoded pixels in a canonical mode (RGB, or RGBA when
  some pixel is not opaque) with the size, so a PNG re-saved as lossless WebP, or a grayscale
  image stored as RGB, is an exact duplicate; lossy re-encodings are not (they change pixels).
- ``phash``: the 64-bit DCT perceptual hash of the ``imagehash`` library, compared by Hamming
  distance: resized and re-compressed copies stay within a few bits (BENCHMARKS.md).
Animated images (GIF, APNG, WebP) are described and hashed by their first frame.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Literal

import xxhash

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


class ImageError(ValueError):
    """An image that goes to quarantine; ``kind`` is the stats key."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 20_000_000
    max_pixels: int = 89_478_485  # Pillow's own default bomb limit (~ 9459 x 9459)
    formats: tuple[str, ...] = FORMATS


@dataclass(frozen=True)
class StorePolicy:
    """Keep the original bytes, or re-encode to ``format`` with the longer side at most
    ``max_side`` (smaller images are not enlarged)."""

    mode: Literal["original", "reencode"] = "original"
    format: Literal["JPEG", "WEBP", "PNG"] = "JPEG"
    max_side: int = 512
    quality: int = 90


@dataclass(slots=True)
class ImageRecord:
    data: bytes  # the stored bytes
    format: str
    width: int
    height: int
    mode: str
    pixel_hash: bytes
    phash: int
    orig_bytes: int  # size of the input's bytes (before any re-encoding)
    token_pos: int = -1  # index of its image token in the document's ids (set at tokenization)


def inspect_image(
    data: bytes, limits: ImageLimits = ImageLimits(), store: StorePolicy = StorePolicy()
) -> ImageRecord:
    """Decode ``data`` under ``limits`` and describe it; raise ImageError saying why not."""
    from PIL import Image

    if not data:
        raise ImageError("image_empty", "image has 0 bytes")
    if len(data) > limits.max_bytes:
        raise ImageError(
            "image_too_large", f"image of {len(data)} bytes is over the limit of {limits.max_bytes}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # our limits apply; a malformed-but-decodable file is kept
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as e:
            raise ImageError("image_too_many_pixels", str(e)) from None
        except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad input
            raise ImageError("image_corrupt", _message(e)) from None
        width, height = im.size
        if width * height > limits.max_pixels:
            raise ImageError(
                "image_too_many_pixels",
                f"{width}x{height} = {width * height} pixels is over the limit of "
                f"{limits.max_pixels} (decompression bomb?)",
            )
        if im.format not in limits.formats:
            raise ImageError("image_unsupported_format", f"format {im.format} is not allowed")
        try:
            im.load()
        except Exception as e:  # noqa: BLE001
            raise ImageError("image_corrupt", _message(e)) from None
        if width == 0 or height == 0:
            raise ImageError("image_corrupt", f"image is {width}x{height}")
        mode, fmt, im = im.mode, im.format, as_displayed(im)
    width, height = im.size
    pixels = canonical_pixels(im)
    stored = data
    if store.mode == "reencode":
        stored, fmt, (width, height) = _reencode(pixels, store)
    return ImageRecord(
        data=stored,
        format=fmt,
        width=width,
        height=height,
        mode=mode,
        pixel_hash=pixel_hash(pixels),
        phash=perceptual_hash(pixels),
        orig_bytes=len(data),
    )


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>")


def _message(e: Exception) -> str:
    """The decoder's error without object addresses (quarantine files must be reproducible)."""
    return f"{type(e).__name__}: {_OBJECT_REPR.sub('the image', str(e))}"


_ORIENTATION = 0x0112  # the EXIF tag: 1 is upright; 2-8 flip or rotate
_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def as_displayed(im):
    """The image as a viewer shows it: EXIF orientation applied (a phone's portrait photo is
    stored sideways with a tag; re-encoding drops the tag), and 16-bit, 32-bit and float
    grey scaled to 8 bits (Pillow's ``convert`` clips them: a 16-bit PNG turns white, so
    distinct images hashed alike and were removed as duplicates)."""
    from PIL import ImageOps

    if exif_orientation(im) in range(2, 9):
        im = ImageOps.exif_transpose(im)
    if im.mode in _HIGH_DEPTH:
        im = _to_8bit(im)
    return im


def exif_orientation(im) -> int:
    """The EXIF orientation tag (1: upright); a broken EXIF block is no orientation, not a bad
    image."""
    try:
        return im.getexif().get(_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - Pillow raises many types for malformed EXIF
        return 1


def _to_8bit(im):
    import numpy as np
    from PIL import Image

    a = np.asarray(im)
    if im.mode.startswith("I;16"):
        return Image.fromarray((a >> 8).astype(np.uint8), "L")
    a = a.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
    if im.mode == "F" and lo >= 0 and hi <= 1:
        a = a * 255  # float images usually hold [0, 1]
    elif lo >= 0 and hi <= 65535 and hi > 255:
        a = a / 257  # 16-bit values in a 32-bit mode (as Pillow reads some PNGs and TIFFs)
    elif hi > lo and (lo < 0 or hi > 255):
        a = (a - lo) * (255 / (hi - lo))  # anything else: its own range (a flat one: clipped)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


def canonical_pixels(im):
    """RGB, or RGBA when the image has a pixel that is not fully opaque."""
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        if rgba.getchannel("A").getextrema() != (255, 255):
            return rgba
        return rgba.convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def pixel_hash(pixels) -> bytes:
    """XXH3-128 of mode, size and pixels: a dedup key, not a signature against forgery
    (BLAKE2b measured 1.7x slower for the whole validation of a 512x384 JPEG)."""
    h = xxhash.xxh3_128(f"{pixels.mode}:{pixels.width}x{pixels.height}:".encode())
    h.update(pixels.tobytes())
    return h.digest()


def perceptual_hash(pixels) -> int:
    """imagehash's pHash (32x32 grayscale, DCT, 8x8 low frequencies against their median),
    with the 32x32 reduction done by Pillow's ``reducing_gap`` fast path (box-reduce, then
    Lanczos), which is what makes hashing cheaper than decoding."""
    import imagehash
    from PIL import Image

    small = pixels.convert("L").resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return int(str(imagehash.phash(small)), 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _reencode(pixels, store: StorePolicy) -> tuple[bytes, str, tuple[int, int]]:
    im = pixels.copy()
    im.thumbnail((store.max_side, store.max_side))
    if store.format == "JPEG" and im.mode != "RGB":
        im = im.convert("RGB")
    out = io.BytesIO()
    im.save(out, store.format, quality=store.quality)
    return out.getvalue(), store.format, im.size
