"""Batches onto a device: pinned host memory, copies on a side stream that overlap the
caller's compute, and GPU image decoding (nvJPEG) on a second stream."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from curate.loader.torch_required import torch

HOST_KEYS = frozenset({"image_bytes", "image_offsets"})  # the JPEG decoder reads host memory


def to_device(
    batches: Iterable[dict[str, torch.Tensor]],
    device: str | torch.device,
    image_size: int | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches on ``device``. On CUDA: pinned host memory, copies issued on a side stream while
    the caller computes on the previous batch (one batch of prefetch), and the compute stream
    waits for a batch's copy only when it receives the batch. Elsewhere: a plain ``.to``.

    Batches of encoded images (``image_decode="gpu"``) are decoded as they are issued, on a
    second side stream with nvJPEG, so decoding the next batch overlaps the caller's compute;
    ``image_size`` defaults to that of the loader's dataset. Off CUDA they are decoded on the
    CPU, so the same training loop runs anywhere.
    """
    device = torch.device(device)
    if image_size is None:
        image_size = getattr(getattr(batches, "dataset", None), "image_size", None)

    def size() -> int:
        if image_size is None:
            raise ValueError("batches hold encoded images: pass to_device(..., image_size=N)")
        return image_size

    if device.type != "cuda":
        for b in batches:
            b = {k: v if k in HOST_KEYS else v.to(device) for k, v in b.items()}
            yield decode_images(b, size(), device) if "image_bytes" in b else b
        return
    from curate.loader.image_decode import decode_on_stream

    copy_stream, decode_stream = torch.cuda.Stream(device), torch.cuda.Stream(device)

    def issue(b: dict[str, torch.Tensor]):
        with torch.cuda.stream(copy_stream):
            out = {
                k: v
                if k in HOST_KEYS
                else (v if v.is_pinned() else v.pin_memory()).to(device, non_blocking=True)
                for k, v in b.items()
            }
        events = [torch.cuda.Event()]
        events[0].record(copy_stream)
        if "image_bytes" in out:
            decode_on_stream(out, size(), device, decode_stream)
            events.append(torch.cuda.Event())
            events[1].record(decode_stream)
        return out, events

    pending = None
    for b in batches:
        nxt = issue(b)
        if pending is not None:
            yield _handover(*pending)
        pending = nxt
    if pending is not None:
        yield _handover(*pending)


def _handover(batch: dict[str, torch.Tensor], events: list) -> dict[str, torch.Tensor]:
    compute = torch.cuda.current_stream()
    for e in events:
        compute.wait_event(e)
    for v in batch.values():
        v.record_stream(compute)  # the allocator must not reuse it before compute is done
    return batch


def decode_images(batch: dict[str, torch.Tensor], size: int, device="cuda") -> dict:
    """For ``image_decode="gpu"`` batches not sent through ``to_device``: decode the batch's
    images on ``device`` (JPEG with nvJPEG through torchvision, other formats with Pillow)
    into ``images``; the current stream waits for the decode."""
    from curate.loader.image_decode import decode_on_device

    return decode_on_device(batch, size, device)
