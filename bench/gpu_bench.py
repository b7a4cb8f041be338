"""The loader's GPU path on a CUDA machine: tokens and images per second delivered to the
device, the share of host-to-device copy time hidden behind compute, and nvJPEG decoding
beside Pillow decoding in the DataLoader workers.

Three steps, because CI and the development machine have no GPU:

    python bench/gpu_bench.py prepare                 # here, after bench/image_bench.py
    python bench/gpu_bench.py run --json OUT.json     # on the GPU machine
    python bench/gpu_bench.py render OUT.json         # here: the BENCHMARKS.md section

``prepare`` keeps the first shards of the image benchmark's loader corpus (800x600 JPEG
pairs), so that what travels to the device stays small. The text corpus is generated where it runs:
synthetic tokens in documents of 100 to 2,000 tokens (the read path does not depend on the
text). The "training step" is a fixed chain of bf16 matrix products, so the step time is
the same with every loader and only the loader's cost moves.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SEQ, BATCH, IMG_BATCH = 2048, 16, 32
IMAGES = ROOT / "bench" / "work" / "gpu" / "images-out"


def prepare(shards: int = 2) -> None:
    import shutil

    src = ROOT / "bench" / "work" / "images" / "loader-out"
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["shards"] = manifest["shards"][:shards]
    shutil.rmtree(IMAGES, ignore_errors=True)
    for s in manifest["shards"]:
        (IMAGES / s["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / s["path"], IMAGES / s["path"])
    shutil.copyfile(src / "tokenizer.json", IMAGES / "tokenizer.json")
    (IMAGES / "manifest.json").write_text(json.dumps(manifest, indent=1))


def step_fn(ms: float):
    """A compute step of about ``ms`` milliseconds (bf16 4096^3 products, chained)."""
    import torch

    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16) / 64

    def one():
        return a @ b

    for _ in range(3):
        one()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(50):
        one()
    torch.cuda.synchronize()
    per = (time.perf_counter() - t0) / 50 * 1000
    k = max(1, round(ms / per))

    def step(batch):
        x = a
        for _ in range(k):
            x = x @ b
        # consume the batch on the compute stream, as a model's embedding lookup would
        return x[0, 0].float() + sum(v.reshape(-1)[:1].float().sum() for v in batch.values())

    return step, k * per


def timed(make, seconds: float, count, step=None) -> dict:
    """Items per second over ``seconds`` after a first (warm-up) batch; ``make()`` gives the
    batches of one epoch."""
    import torch

    n, steps, t0 = 0, 0, None
    while True:
        for b in make():
            if step is not None:
                step(b)
            if t0 is None:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                continue
            n += count(b)
            steps += 1
            if time.perf_counter() - t0 > seconds:
                torch.cuda.synchronize()
                dt = time.perf_counter() - t0
                return {"items": n, "seconds": dt, "per_s": n / dt, "step_ms": dt / steps * 1e3}


def naive(loader):
    """What a plain loop does: a blocking ``.to("cuda")`` of each tensor."""
    for b in loader:
        yield {k: v.to("cuda") for k, v in b.items()}


def copy_ms(batch: dict) -> float:
    """One batch's host-to-device copy alone, from pinned memory (median of 20)."""
    import torch

    pinned = {k: v.pin_memory() for k, v in batch.items() if not k.startswith("image_")}
    times = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for v in pinned.values():
            v.to("cuda", non_blocking=True)
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    return sorted(times)[len(times) // 2]


def overlap_from_trace(run) -> dict:
    """Run ``run()`` under the profiler; the share of host-to-device copy time that ran while
    a compute kernel ran (from the CUDA activity records)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run()
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        prof.export_chrome_trace(f.name)
        events = json.load(open(f.name))["traceEvents"]
    copies = [
        (e["ts"], e["ts"] + e["dur"])
        for e in events
        if e.get("cat") == "gpu_memcpy" and "HtoD" in e.get("name", "")
    ]
    kernels = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("cat") == "kernel")
    merged: list[list[float]] = []
    for a, b in kernels:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    total = sum(b - a for a, b in copies)
    hidden = 0.0
    for a, b in copies:
        for ka, kb in merged:
            if kb > a and ka < b:
                hidden += min(b, kb) - max(a, ka)
    return {"copies": len(copies), "copy_us": total, "hidden_share": hidden / total if total else 0}


def text_part(seconds: float, out: dict) -> None:
    from loader_bench import many_shards

    from curate.loader import CorpusDataset, CorpusLoader, to_device

    root = many_shards(Path(tempfile.gettempdir()) / "gpu-text", 48, 2_500, (100, 2_001))
    tokens = lambda b: b["input_ids"].numel()  # noqa: E731

    def loader(workers: int, pin: bool = True):
        ds = CorpusDataset(str(root), split=None, seq_len=SEQ, seed=0, verify="size")
        return CorpusLoader(ds, batch_size=BATCH, num_workers=workers, pin_memory=pin)

    rows = out.setdefault("text", {})
    for w in (0, 2, 4):
        rows[f"host, {w} workers"] = timed(lambda w=w: loader(w), seconds, tokens)
        rows[f"to_device, {w} workers"] = timed(
            lambda w=w: to_device(loader(w), "cuda"), seconds, tokens
        )
        rows[f"plain .to(), {w} workers"] = timed(
            lambda w=w: naive(loader(w, pin=False)), seconds, tokens
        )
    step, step_ms = step_fn(4.0)
    sample = next(iter(loader(0)))
    resident = {k: v.cuda() for k, v in sample.items()}
    it0, it2 = iter(loader(0)), iter(loader(2))
    separate = [next(it0) for _ in range(200)]  # made in this process
    wired = [next(it2) for _ in range(200)]  # rebuilt from what workers sent
    out["text_overlap"] = {
        "step_ms": step_ms,
        "copy_ms": copy_ms(sample),
        "to_device_us_per_batch_separate": to_device_overhead(separate),
        "to_device_us_per_batch_wired": to_device_overhead(wired),
        "compute_only": timed(lambda: [resident] * 100, seconds, tokens, step),
        "to_device": timed(lambda: to_device(loader(4), "cuda"), seconds, tokens, step),
        "plain": timed(lambda: naive(loader(4, pin=False)), seconds, tokens, step),
        "trace": overlap_from_trace(
            lambda: timed(lambda: to_device(loader(4), "cuda"), 2.0, tokens, step)
        ),
    }


def replicate(src: Path, times: int) -> Path:
    """The corpus with each shard listed ``times`` times (symbolic links): an epoch of the
    travelled 500 images lasts a fraction of a second, and DataLoader workers restart each
    epoch, which would measure worker start-up instead of decoding."""
    dest = Path(tempfile.gettempdir()) / "gpu-images"
    manifest = json.loads((src / "manifest.json").read_text())
    shards = []
    for k in range(times):
        for s in manifest["shards"]:
            path = s["path"].replace(".arrow", f"-copy{k}.arrow")
            (dest / path).parent.mkdir(parents=True, exist_ok=True)
            if not (dest / path).exists():
                (dest / path).symlink_to((src / s["path"]).resolve())
            shards.append({**s, "path": path})
    (dest / "manifest.json").write_text(json.dumps({**manifest, "shards": shards}))
    return dest


def to_device_overhead(batches: list) -> float:
    """Microseconds of host time per batch that ``to_device`` spends, over resident batches."""
    import torch

    from curate.loader import to_device

    for _ in to_device(batches[:5], "cuda"):
        pass
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in to_device(batches, "cuda"):
        pass
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / len(batches) * 1e6


def image_part(images: Path, seconds: float, out: dict) -> None:
    import numpy as np
    import torch
    from torchvision.io import decode_jpeg

    from curate.loader import CorpusDataset, CorpusLoader, to_device
    from curate.loader.image_decode import decode_batch

    count = lambda b: len(b["images"])  # noqa: E731
    images = replicate(images, 10)

    def loader(size: int, decode: str, workers: int):
        ds = CorpusDataset(
            str(images), split=None, seq_len=64, pack=False, image_size=size,
            image_decode=decode, verify="size",
        )  # fmt: skip
        return CorpusLoader(ds, batch_size=IMG_BATCH, num_workers=workers)

    rows = out.setdefault("images", {})
    for size in (224, 512):
        for w in (0, 2, 4, 8):
            rows[f"{size} px, cpu decode, {w} workers"] = timed(
                lambda s=size, w=w: to_device(loader(s, "cpu", w), "cuda"), seconds, count
            )
        for w in (0, 2, 4):
            rows[f"{size} px, gpu decode, {w} workers"] = timed(
                lambda s=size, w=w: to_device(loader(s, "gpu", w), "cuda"), seconds, count
            )
    # the decoders alone, on the same 32 JPEGs
    shard = loader(224, "cpu", 0).dataset.corpus.shard(0)
    blobs = [d for row in range(IMG_BATCH) for d, _ in shard.images(row)][:IMG_BATCH]
    tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]
    decode_jpeg(tensors, device="cuda")
    torch.cuda.synchronize()
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        decode_jpeg(tensors, device="cuda")
    torch.cuda.synchronize()
    gpu_rate = reps * len(tensors) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(3):
        decode_batch(blobs, 512)
    pil_rate = 3 * len(blobs) / (time.perf_counter() - t0)
    # the same batch both ways: pixels agree up to resampling
    a = next(iter(to_device(loader(224, "gpu", 0), "cuda")))["images"].cpu().numpy()
    b = next(iter(loader(224, "cpu", 0)))["images"].numpy()
    out["decoders"] = {
        "nvjpeg_full_decode_per_s": gpu_rate,
        "pillow_decode_resize_512_per_s_one_core": pil_rate,
        "mean_abs_diff_224": float(np.abs(a.astype(float) - b.astype(float)).mean()),
        "mean_jpeg_bytes": sum(map(len, blobs)) / len(blobs),
    }
    step, step_ms = step_fn(8.0)
    sample = next(iter(loader(512, "cpu", 0)))
    out["image_overlap"] = {
        "step_ms": step_ms,
        "copy_ms": copy_ms(sample),
        "gpu_decode_4_workers": timed(
            lambda: to_device(loader(512, "gpu", 4), "cuda"), seconds, count, step
        ),
        "cpu_decode_8_workers": timed(
            lambda: to_device(loader(512, "cpu", 8), "cuda"), seconds, count, step
        ),
        "trace_cpu_decode": overlap_from_trace(
            lambda: timed(lambda: to_device(loader(512, "cpu", 8), "cuda"), 2.0, count, step)
        ),
        "trace_gpu_decode": overlap_from_trace(
            lambda: timed(lambda: to_device(loader(512, "gpu", 0), "cuda"), 2.0, count, step)
        ),
    }


def threaded(loader, size: int):
    """Experiment: ``to_device``'s issue step (copy + nvJPEG decode) in a background thread,
    so the host work of decoding the next batch never waits behind the training loop."""
    import queue
    import threading

    import torch

    from curate.loader import HOST_KEYS, _handover
    from curate.loader.image_decode import decode_on_stream

    copy_stream, decode_stream = torch.cuda.Stream(), torch.cuda.Stream()
    q: queue.Queue = queue.Queue(maxsize=2)

    def work():
        try:
            for b in loader:
                with torch.cuda.stream(copy_stream):
                    out = {
                        k: v if k in HOST_KEYS else v.to("cuda", non_blocking=True)
                        for k, v in b.items()
                    }
                ev = [torch.cuda.Event()]
                ev[0].record(copy_stream)
                decode_on_stream(out, size, torch.device("cuda"), decode_stream)
                ev.append(torch.cuda.Event())
                ev[1].record(decode_stream)
                q.put((out, ev))
        except BaseException as e:  # noqa: BLE001
            q.put(e)
        q.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (item := q.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield _handover(*item)


def overlap_experiment(images: Path, seconds: float, out: dict) -> None:
    from curate.loader import CorpusDataset, CorpusLoader, to_device

    images = replicate(images, 10)
    count = lambda b: len(b["images"])  # noqa: E731

    def loader(decode: str, workers: int):
        ds = CorpusDataset(
            str(images), split=None, seq_len=64, pack=False, image_size=512,
            image_decode=decode, verify="size",
        )  # fmt: skip
        return CorpusLoader(ds, batch_size=IMG_BATCH, num_workers=workers)

    step, step_ms = step_fn(8.0)
    resident = {k: v.cuda() for k, v in next(iter(loader("cpu", 0))).items()}
    res = {"step_ms": step_ms}
    res["compute_only"] = timed(lambda: [resident] * 100, seconds, count, step)
    for w in (0, 4):
        res[f"to_device, {w} workers"] = timed(
            lambda w=w: to_device(loader("gpu", w), "cuda"), seconds, count, step
        )
        res[f"threaded, {w} workers"] = timed(
            lambda w=w: threaded(loader("gpu", w), 512), seconds, count, step
        )
        res[f"threaded no compute, {w} workers"] = timed(
            lambda w=w: threaded(loader("gpu", w), 512), seconds, count
        )
    out["overlap_experiment"] = res


def run(args) -> None:
    import torch

    out = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "gpu": torch.cuda.get_device_name(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    import torchvision

    out["torchvision"] = torchvision.__version__
    if args.experiment:
        overlap_experiment(Path(args.images), args.seconds, out)
        Path(args.json).write_text(json.dumps(out, indent=1))
        return
    text_part(args.seconds, out)
    Path(args.json).write_text(json.dumps(out, indent=1))
    if args.text_only:
        return
    image_part(Path(args.images), args.seconds, out)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


def render(args) -> None:
    from sections import replace_section

    r = json.loads(Path(args.json).read_text())
    exp_path = Path(args.json).with_name("gpu-overlap-experiment.json")
    exp = json.loads(exp_path.read_text())["overlap_experiment"] if exp_path.exists() else None
    text_path = Path(args.json).with_name("gpu-text.json")  # a later run of the text part
    if text_path.exists():
        later = json.loads(text_path.read_text())
        r.update(text=later["text"], text_overlap=later["text_overlap"], text_date=later["date"])
    t, o = r["text"], r["text_overlap"]
    lines = [
        "## GPU feeding (issues 5 and 6)",
        "",
        f"- Date: {r['date']}; machine: one {r['gpu']}, {r['cpus']} CPU cores, torch {r['torch']}, "
        f"torchvision {r['torchvision']}, Python {r['python']} (a lent machine: CI has no GPU)",
        "- Command: `python bench/gpu_bench.py prepare` here, `python bench/gpu_bench.py run "
        "--json bench/results/gpu.json` on the GPU machine (`--experiment` for the thread "
        "experiment below, `--text-only` for `gpu-text.json`), `python bench/gpu_bench.py render bench/results/gpu.json` here; raw "
        "figures in `bench/results/`. Each figure is one run of 4 s after a warm-up batch.",
        "",
        f"Text{' (re-measured ' + r['text_date'] + ' after the loader changes of that day)' if 'text_date' in r else ''}: "
        f"packed, shuffled batches of {BATCH} x {SEQ} tokens from a generated corpus "
        "(48 shards, 120,000 documents of 100-2,000 tokens). `host`: the loader alone (pinned "
        "batches); `to_device`: curate's copier (pinned memory, side stream, one batch "
        "prefetched), synchronized at the end; `plain .to()`: unpinned batches and a blocking "
        "copy of each tensor, as a loop without the copier does.",
        "",
        "| path | workers | M tokens/s delivered |",
        "|---|---:|---:|",
        *[
            f"| {k.rsplit(', ', 1)[0]} | {k.rsplit(', ', 1)[1].split()[0]} | {v['per_s'] / 1e6:.1f} |"
            for k, v in t.items()
        ],
        "",
        f"- **Copy hidden behind compute: {o['trace']['hidden_share']:.0%}** of the host-to-device "
        f"copy time ran while a compute kernel ran (CUDA activity trace of 2 s: "
        f"{o['trace']['copies']} copies, {o['trace']['copy_us'] / 1e3:.1f} ms of copying), with "
        f"a {o['step_ms']:.1f} ms compute step (bf16 matrix products) per batch and 4 workers. "
        f"Step time: compute alone {o['compute_only']['step_ms']:.2f} ms, with `to_device` "
        f"{o['to_device']['step_ms']:.2f} ms (+{o['to_device']['step_ms'] / o['compute_only']['step_ms'] - 1:.1%}), "
        f"with blocking copies {o['plain']['step_ms']:.2f} ms "
        f"(+{o['plain']['step_ms'] / o['compute_only']['step_ms'] - 1:.1%}). One batch's five "
        f"copies take {o['copy_ms'] * 1e3:.0f} us of copy-engine time.",
        f"- Without compute the copier is not free: {o['to_device_us_per_batch_separate']:.0f} us "
        f"of host time per batch over resident pinned batches "
        f"({o['to_device_us_per_batch_wired']:.0f} us for batches from workers). With 0 workers "
        "the pinning and the copier cost more than a blocking copy "
        "of pageable memory, which is why `plain .to()` delivers more there; every path "
        "delivers far more than one GPU trains on (tens of thousands of tokens/s for a model "
        "of a billion parameters), so only the step times above count in training. Between "
        "runs on one machine these rates moved by up to a third.",
        "",
    ]
    im, d, io_ = r["images"], r["decoders"], r["image_overlap"]
    lines += [
        f"Images: the image benchmark's loader corpus cut to what travels to the device "
        f"(500 800x600 JPEGs of {d['mean_jpeg_bytes'] / 1e3:.0f} KB on average, each shard "
        f"listed 10 times so that an epoch outlasts worker start-up), batches of {IMG_BATCH}, "
        "resize shorter side + centre crop, delivered to the GPU with `to_device`. `gpu "
        "decode`: workers send the encoded bytes and `to_device` decodes them with nvJPEG on a "
        "side stream.",
        "",
        "| size | decode | workers | images/s delivered |",
        "|---:|---|---:|---:|",
        *[
            f"| {k.split(', ')[0]} | {k.split(', ')[1]} | {k.split(', ')[2].split()[0]} | {v['per_s']:,.0f} |"
            for k, v in im.items()
        ],
        "",
        *[
            f"- {size} px: **GPU decoding {best_gpu / best_cpu:.1f}x CPU decoding** "
            f"({best_gpu:,.0f} vs {best_cpu:,.0f} images/s, the best worker count of each)"
            for size in (224, 512)
            for best_gpu, best_cpu in [
                (
                    max(v["per_s"] for k, v in im.items() if k.startswith(f"{size} px, gpu")),
                    max(v["per_s"] for k, v in im.items() if k.startswith(f"{size} px, cpu")),
                )
            ]
        ],
        f"- Decoders alone on 32 of these JPEGs: nvJPEG batch decode (full size) "
        f"{d['nvjpeg_full_decode_per_s']:,.0f} images/s; Pillow decode + resize to 512 on one "
        f"core {d['pillow_decode_resize_512_per_s_one_core']:,.0f}/s. The two paths' pixels "
        f"differ by {d['mean_abs_diff_224']:.2f}/255 on average at 224 px (resampling).",
        f"- With a {io_['step_ms']:.1f} ms compute step per batch of 512 px images: GPU decoding "
        f"(4 workers) {io_['gpu_decode_4_workers']['step_ms']:.1f} ms per step, CPU decoding "
        f"(8 workers) {io_['cpu_decode_8_workers']['step_ms']:.1f} ms (the workers cannot keep "
        f"up). One batch's copy takes {io_['copy_ms']:.2f} ms; "
        f"{io_['trace_cpu_decode']['hidden_share']:.0%} of copy time is hidden with CPU "
        "decoding (the GPU mostly waits for data, so copies often run alone) and "
        f"{io_['trace_gpu_decode']['hidden_share']:.0%} with GPU decoding, where nvJPEG's own "
        "uploads run in its decoding phase, not beside the matrix products.",
    ]
    if exp is not None:
        lines.append(
            f"- Decoding shares the GPU with training: compute alone "
            f"{exp['compute_only']['step_ms']:.2f} ms per step, with GPU decoding "
            f"{exp['to_device, 4 workers']['step_ms']:.2f} ms (4 workers). Moving the copy and "
            f"decode into a background thread gave {exp['threaded, 4 workers']['step_ms']:.2f} "
            "ms: no gain (the decode kernels wait for the SMs, not for the host), so "
            "`to_device` stays single-threaded."
        )
    replace_section(ROOT / "BENCHMARKS.md", "gpu", lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare")
    r = sub.add_parser("run")
    r.add_argument("--images", default=str(IMAGES))
    r.add_argument("--json", required=True)
    r.add_argument("--seconds", type=float, default=6.0)
    r.add_argument("--experiment", action="store_true")
    r.add_argument("--text-only", action="store_true")
    sub.add_parser("render").add_argument("json")
    args = ap.parse_args()
    {"prepare": lambda a: prepare(), "run": run, "render": render}[args.cmd](args)


if __name__ == "__main__":
    main()
