"""Decode a batch's images for the loader: Pillow on CPU workers by default, or nvJPEG on the
GPU (``torchvision.io.decode_jpeg(..., device="cuda")``, an optional dependency) with the
workers only reading bytes.

Every image becomes ``size x size`` RGB uint8, channels first: the shorter side is resized to
``size`` and the centre cropped (the usual evaluation transform; training augmentation is the
trainer's business). Pillow's JPEG ``draft`` mode lets libjpeg decode at a reduced scale when
the image is much larger than ``size``, which is most of the cost saved.
"""

from __future__ import annotations

import io

import numpy as np


def decode_resize(data, size: int) -> np.ndarray:
    """One encoded image to a (3, size, size) uint8 array."""
    from PIL import Image, ImageOps

    im = Image.open(io.BytesIO(data))
    if im.format == "JPEG":
        im.draft("RGB", (size, size))  # DCT scaling: decodes at >= size, not full resolution
    im = ImageOps.fit(im.convert("RGB"), (size, size), Image.Resampling.BICUBIC)
    return np.asarray(im).transpose(2, 0, 1)


def decode_batch(images: list, size: int) -> np.ndarray:
    out = np.empty((len(images), 3, size, size), np.uint8)
    for i, data in enumerate(images):
        out[i] = decode_resize(data, size)
    return out


def pack_bytes(images: list) -> tuple[np.ndarray, np.ndarray]:
    """Encoded images as one uint8 buffer and int64 offsets (what workers send in
    ``decode="gpu"`` mode)."""
    offsets = np.zeros(len(images) + 1, np.int64)
    offsets[1:] = np.cumsum([len(d) for d in images])
    flat = np.empty(int(offsets[-1]), np.uint8)
    for i, d in enumerate(images):
        flat[offsets[i] : offsets[i + 1]] = np.frombuffer(d, np.uint8)
    return flat, offsets


def decode_on_device(batch: dict, size: int, device="cuda") -> dict:
    """Replace ``image_bytes``/``image_offsets`` by ``images`` (N, 3, size, size) uint8 on
    ``device``: JPEGs in one nvJPEG batch call, other formats with Pillow then copied."""
    import torch
    import torch.nn.functional as F
    from torchvision.io import decode_jpeg

    flat, offsets = batch.pop("image_bytes"), batch.pop("image_offsets").tolist()
    parts = [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    is_jpeg = [len(p) > 2 and p[0].item() == 0xFF and p[1].item() == 0xD8 for p in parts]
    out = torch.empty((len(parts), 3, size, size), dtype=torch.uint8, device=device)
    jpegs = [i for i, j in enumerate(is_jpeg) if j]
    if jpegs:
        decoded = decode_jpeg([parts[i] for i in jpegs], device=device, mode=_rgb())
        for i, im in zip(jpegs, decoded, strict=True):
            out[i] = _fit(im, size, F)
    for i, j in enumerate(is_jpeg):
        if not j:
            out[i] = torch.from_numpy(decode_resize(parts[i].numpy().tobytes(), size)).to(device)
    batch["images"] = out
    return batch


def _rgb():
    from torchvision.io import ImageReadMode

    return ImageReadMode.RGB


def _fit(im, size: int, F):
    """Resize the shorter side to ``size`` (bicubic, on the device) and crop the centre."""
    _, h, w = im.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    im = F.interpolate(
        im[None].float(), size=(nh, nw), mode="bicubic", align_corners=False, antialias=True
    )[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return im[:, top : top + size, left : left + size].round().clamp(0, 255).byte()
