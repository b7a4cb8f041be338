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

    from curate.core.images import as_displayed

    im = Image.open(io.BytesIO(data))
    if im.format == "JPEG":
        im.draft("RGB", (size, size))  # DCT scaling: decodes at >= size, not full resolution
    im = as_displayed(im)  # as the build hashed it: EXIF orientation, 16-bit scaled to 8
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
    """Replace ``image_bytes``/``image_offsets`` (host tensors) by ``images`` (N, 3, size,
    size) uint8 on ``device``; on CUDA the caller's stream waits for the decode. Elsewhere
    with Pillow, the CPU workers' own path (same pixels as ``image_decode="cpu"``)."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        batch["images"] = _decode_host(_parts(batch), size).to(device)
        return batch
    caller, stream = torch.cuda.current_stream(device), torch.cuda.Stream(device)
    decode_on_stream(batch, size, device, stream)
    caller.wait_stream(stream)
    batch["images"].record_stream(caller)
    return batch


def decode_on_stream(batch: dict, size: int, device, stream) -> None:
    """Decode on the CUDA ``stream``, which the caller must make its compute wait for: JPEGs
    in one nvJPEG batch call (torchvision), resized once per group of equal shapes; other
    formats with Pillow. The stream's earlier work is waited for first: torchvision's decoder
    writes on a private stream that does not wait for the stream its output was allocated on
    (pytorch/vision#9606), so a block freed there with kernels still queued could be
    overwritten."""
    import torch

    parts = _parts(batch)
    with torch.cuda.stream(stream):
        stream.synchronize()
        batch["images"] = _decode_torchvision(parts, size, device)


def _parts(batch: dict) -> list:
    flat, offsets = batch.pop("image_bytes"), batch.pop("image_offsets").tolist()
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def _is_jpeg(part) -> bool:
    """A JPEG nvJPEG decodes as the build saw it: one whose EXIF orientation is not upright
    goes to Pillow (nvJPEG does not apply the tag)."""
    if not (len(part) > 2 and int(part[0]) == 0xFF and int(part[1]) == 0xD8):
        return False
    head = part[:_EXIF_SCAN].numpy().tobytes()
    return b"Exif\x00\x00" not in head or _orientation(part.numpy().tobytes()) not in range(2, 9)


_EXIF_SCAN = 1 << 16  # an APP1 EXIF segment sits in the first 64 KB, after SOI (and APP0)


def _orientation(data: bytes) -> int:
    from PIL import Image

    from curate.core.images import exif_orientation

    try:
        return exif_orientation(Image.open(io.BytesIO(data)))
    except Exception:  # noqa: BLE001 - not an image Pillow opens: its own path will say why
        return 1


def _decode_host(parts: list, size: int):
    import torch

    return torch.from_numpy(decode_batch([p.numpy().tobytes() for p in parts], size))


def _decode_torchvision(parts: list, size: int, device):
    import torch
    from torchvision.io import decode_jpeg

    out = torch.empty((len(parts), 3, size, size), dtype=torch.uint8, device=device)
    is_jpeg = [_is_jpeg(p) for p in parts]
    jpegs = [i for i, j in enumerate(is_jpeg) if j]
    decoded = decode_jpeg([parts[i] for i in jpegs], device=device, mode=_rgb()) if jpegs else []
    by_shape: dict[tuple, list[int]] = {}
    for k, im in enumerate(decoded):
        by_shape.setdefault(tuple(im.shape), []).append(k)
    for ks in by_shape.values():  # one resize per shape: web images share few shapes
        fitted = _fit([decoded[k] for k in ks], size)
        out[torch.tensor([jpegs[k] for k in ks], device=device)] = fitted
    for i, j in enumerate(is_jpeg):
        if not j:
            out[i] = _decode_host([parts[i]], size)[0].to(device)
    return out


def _rgb():
    from torchvision.io import ImageReadMode

    return ImageReadMode.RGB


def _fit(ims: list, size: int):
    """Images of one shape, stacked: the shorter side resized to ``size`` (bicubic with
    antialiasing, like Pillow's) and the centre cropped."""
    import torch
    import torch.nn.functional as F

    _, h, w = ims[0].shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(
        torch.stack(ims).float(), size=(nh, nw), mode="bicubic", align_corners=False,
        antialias=True,
    )  # fmt: skip
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[:, :, top : top + size, left : left + size].round().clamp(0, 255).byte()
