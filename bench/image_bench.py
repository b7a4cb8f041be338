"""Images: dedup quality on variants of real images, pipeline throughput, loader throughput
beside a plain torchvision/Pillow DataLoader. Writes its section of BENCHMARKS.md.

Dedup: the scikit-image photographs of ``../shared/evaldata/images/files`` and the four
quadrants of each (distinct pictures of the same texture or scene: hard negatives) are the
originals; each gets lossless re-encodings (exact copies), resized and re-compressed copies,
crops and watermarks. Every image pair is labelled by whether both come from one original. The
curve applies the build's rule (equal pixel hash, or pHash within d bits, then connected
components) for each d; the default is also run through the whole pipeline.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import platform
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

from sections import replace_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from curate.demo.images import encode  # noqa: E402  (after the path insert)

WORK = ROOT / "bench" / "work" / "images"
EVAL = ROOT.parent / "shared" / "evaldata" / "images"
ANCHOR_PY = ROOT / "bench" / ".venv-loader" / "bin" / "python"


def variants(im) -> dict[str, tuple[str, bytes]]:
    """kind -> (group, bytes); group is what a dedup should do with it."""
    from PIL import ImageDraw

    w, h = im.size
    rgb = im.convert("RGB")
    wm_text = rgb.copy()
    ImageDraw.Draw(wm_text).text((8, h - 18), "(c) stockphotos", fill=(255, 255, 255))
    wm_box = rgb.copy()
    ImageDraw.Draw(wm_box).rectangle((w - w // 5, 8, w - 8, 8 + h // 10), fill=(200, 0, 0))
    return {
        "webp_lossless": ("exact", encode(im, "WEBP", lossless=True)),
        "png_recompressed": ("exact", encode(im, "PNG", compress_level=9)),
        "resize_50": ("near", encode(im.resize((w // 2, h // 2)), "PNG")),
        "resize_75": ("near", encode(im.resize((w * 3 // 4, h * 3 // 4)), "PNG")),
        "jpeg_q75": ("near", encode(rgb, "JPEG", quality=75)),
        "jpeg_q40": ("near", encode(rgb, "JPEG", quality=40)),
        "watermark_text": ("near", encode(wm_text, "PNG")),
        "crop_5": ("hard", encode(im.crop((w // 20, h // 20, w, h)), "PNG")),
        "watermark_box": ("hard", encode(wm_box, "PNG")),
        "crop_10": ("hard", encode(im.crop((w // 10, 0, w, h - h // 10)), "PNG")),
    }


def dedup_set():
    """(name, origin, kind, bytes) for every image of the benchmark."""
    from PIL import Image

    items = []
    for path in sorted((EVAL / "files").iterdir()):
        im = Image.open(path)
        im.load()
        originals = [(path.stem, im)]
        w, h = im.size
        if min(w, h) >= 300:
            for qi, (x, y) in enumerate(itertools.product((0, w // 2), (0, h // 2))):
                originals.append((f"{path.stem}-q{qi}", im.crop((x, y, x + w // 2, y + h // 2))))
        for name, o in originals:
            items.append((name, name, "original", encode(o, "PNG")))
            for kind, (_, data) in variants(o).items():
                items.append((f"{name}-{kind}", name, kind, data))
    return items


def curve(items) -> tuple[list[dict], dict]:
    from curate.core.images import inspect_image

    recs = [inspect_image(d) for *_, d in items]
    n = len(items)
    truth = {(i, j) for i, j in itertools.combinations(range(n), 2) if items[i][1] == items[j][1]}
    rows = []
    recall_by_kind = {}
    for d in (0, 2, 4, 6, 8, 10, 12):
        parent = list(range(n))

        def find(x, parent=parent):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, j in itertools.combinations(range(n), 2):
            a, b = recs[i], recs[j]
            if a.pixel_hash == b.pixel_hash or (a.phash ^ b.phash).bit_count() <= d:
                parent[find(i)] = find(j)
        pred = {(i, j) for i, j in itertools.combinations(range(n), 2) if find(i) == find(j)}
        tp = len(pred & truth)
        rows.append(
            {
                "d": d,
                "precision": tp / len(pred) if pred else 1.0,
                "recall": tp / len(truth),
                "false_pairs": len(pred - truth),
            }
        )
        origin_idx = {it[0]: k for k, it in enumerate(items) if it[2] == "original"}
        per = {}
        for k, (_, origin, kind, _) in enumerate(items):
            if kind != "original":
                per.setdefault(kind, []).append(find(k) == find(origin_idx[origin]))
        recall_by_kind[d] = {kind: sum(v) / len(v) for kind, v in per.items()}
    return rows, recall_by_kind


def pipeline_dedup(items, max_distance: int) -> dict:
    """The same images through a real build (image-text pairs in a tar), default rule."""
    from curate.driver.build import run_build
    from curate.driver.config_file import parse_config

    data = WORK / "dedup"
    data.mkdir(parents=True, exist_ok=True)
    with tarfile.open(data / "real-variants.tar", "w") as tar:
        for k, (name, _, _, blob) in enumerate(items):
            meta = json.dumps(
                {"id": name, "timestamp": f"2020-01-01T00:{k // 60:02d}:{k % 60:02d}Z"}
            )
            for ext, payload in (
                ("png", blob),
                ("txt", f"image {name}".encode()),
                ("json", meta.encode()),
            ):
                info = tarfile.TarInfo(f"{k:05d}.{ext}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    out = WORK / "dedup-out"
    cfg = parse_config(
        {
            "input": {"paths": [str(data / "*.tar")], "modality": "image_text"},
            "filters": [],
            "dedup": {"exact": True, "perceptual": {"max_distance": max_distance}},
            "tokenizer": {"train": {"vocab_size": 300, "sample_docs": 200}},
            "output": {"dir": str(out)},
        }
    )
    run_build(cfg, overwrite=True)
    origin = {name: o for name, o, _, _ in items}
    rows = [json.loads(ln) for p in (out / "rejected").glob("*.jsonl") for ln in p.open()]
    removed = {r["id"]: r["kept_id"] for r in rows}
    correct = sum(origin[i] == origin[k] for i, k in removed.items())
    dup_total = len(items) - len(set(origin.values()))
    return {
        "removed": len(removed),
        "correct": correct,
        "precision": correct / len(removed) if removed else 1.0,
        "recall": correct / dup_total,
        "exact": sum(r["reason"] == "dedup.exact_duplicate" for r in rows),
    }


def make_pairs(n: int, size: tuple[int, int], name: str, shards: int = 8) -> Path:
    """``n`` generated JPEG image-text pairs (``shards`` tar files) and the same JPEG files in
    a folder."""
    import random

    from curate.demo.images import draw

    root = WORK / name
    if (root / "done").exists():
        return root
    (root / "files").mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    tars = [tarfile.open(root / f"pairs-{i:03d}.tar", "w") for i in range(shards)]
    for k in range(n):
        im, caption = draw(rng, size)
        data = encode(im, "JPEG", quality=90)
        (root / "files" / f"{k:06d}.jpg").write_bytes(data)
        meta = json.dumps({"caption": caption, "timestamp": f"2020-{k % 12 + 1:02d}-01"})
        for ext, payload in (("jpg", data), ("json", meta.encode())):
            info = tarfile.TarInfo(f"{k:06d}.{ext}")
            info.size = len(payload)
            tars[k % shards].addfile(info, io.BytesIO(payload))
    for t in tars:
        t.close()
    (root / "done").touch()
    return root


def pipeline_speed(root: Path, workers: int) -> dict:
    from curate.driver.build import run_build
    from curate.driver.config_file import parse_config

    out = WORK / f"speed-out-{workers}"
    cfg = parse_config(
        {
            "input": {"paths": [str(root / "*.tar")], "modality": "image_text"},
            "filters": [],
            "dedup": {"exact": True, "perceptual": {}},
            "tokenizer": {"train": {"vocab_size": 300, "sample_docs": 200}},
            "output": {"dir": str(out)},
        }
    )
    mode = "in_memory" if workers == 1 else "multi_processing"
    args = [
        "--runner=FnApiRunner",
        f"--direct_running_mode={mode}",
        f"--direct_num_workers={workers}",
    ]
    t0 = time.perf_counter()
    stats = run_build(cfg, args, overwrite=True)
    return {"seconds": time.perf_counter() - t0, "images": stats["input_records"]}


def inspect_speed(root: Path) -> float:
    from curate.core.images import inspect_image

    files = sorted((root / "files").iterdir())[:300]
    blobs = [p.read_bytes() for p in files]
    t0 = time.perf_counter()
    for b in blobs:
        inspect_image(b)
    return len(blobs) / (time.perf_counter() - t0)


def ours_loader(out: Path, size: int, workers: int, seconds: float = 12.0) -> float:
    from curate.loader import CorpusDataset, CorpusLoader

    ds = CorpusDataset(str(out), split="train", seq_len=64, pack=False, image_size=size)
    dl = CorpusLoader(ds, batch_size=32, num_workers=workers)
    n, t0 = 0, None
    while True:
        for b in dl:
            if t0 is None:  # the first batch includes worker start-up
                t0 = time.perf_counter()
                continue
            n += len(b["images"])
            if time.perf_counter() - t0 > seconds:
                return n / (time.perf_counter() - t0)


ANCHOR = r"""
import sys, time, torch
from pathlib import Path
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
files, size, workers = sorted(Path(sys.argv[1]).iterdir()), int(sys.argv[2]), int(sys.argv[3])
tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
class Files(Dataset):
    def __len__(self): return len(files)
    def __getitem__(self, i): return tf(Image.open(files[i]).convert("RGB"))
dl = DataLoader(Files(), batch_size=32, shuffle=True, num_workers=workers)
n, t0 = 0, None
while True:
    for b in dl:
        if t0 is None:
            t0 = time.perf_counter(); continue
        n += len(b)
        if time.perf_counter() - t0 > 12:
            print(n / (time.perf_counter() - t0)); sys.exit()
"""


def anchor_loader(files: Path, size: int, workers: int) -> float:
    r = subprocess.run(
        [str(ANCHOR_PY), "-c", ANCHOR, str(files), str(size), str(workers)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    from curate.dedup.config import PerceptualDedupConfig

    default_d = PerceptualDedupConfig().max_distance
    items = dedup_set()
    rows, by_kind = curve(items)
    piped = pipeline_dedup(items, default_d)
    n_orig = len({o for _, o, _, _ in items})

    speed_root = make_pairs(6000, (512, 384), "speed")
    inspect_rate = inspect_speed(speed_root)
    sp1 = pipeline_speed(speed_root, 1)
    sp2 = pipeline_speed(speed_root, 2)

    load_root = make_pairs(1000, (800, 600), "loader")
    built = WORK / "loader-out"
    if not (built / "manifest.json").exists():
        from curate.driver.build import run_build
        from curate.driver.config_file import parse_config

        run_build(
            parse_config(
                {
                    "input": {"paths": [str(load_root / "*.tar")], "modality": "image_text"},
                    "filters": [],
                    "dedup": {"exact": False},
                    "tokenizer": {"train": {"vocab_size": 300, "sample_docs": 200}},
                    "output": {"dir": str(built)},
                }
            ),
            overwrite=True,
        )
    loader_rows = []
    for size in (224, 512):
        for workers in (0, 2):
            ours = ours_loader(built, size, workers)
            anchor = anchor_loader(load_root / "files", size, workers)
            loader_rows.append((size, workers, ours, anchor))

    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kinds = list(by_kind[default_d])
    lines = [
        "## Images (issue 6)",
        "",
        f"- Date: {now}; machine: {os.cpu_count()} cores, Python {platform.python_version()}; no GPU",
        "- Command: `make bench` (`python bench/image_bench.py`)",
        "",
        f"Image deduplication on variants of real images: {n_orig} originals (the {len(list((EVAL / 'files').iterdir()))} "
        "scikit-image photographs of `../shared/evaldata/images/files` and the four quadrants of each "
        f"one of at least 300 px, distinct pictures of the same scene or texture), {len(items) - n_orig} "
        "variants. A pair is a duplicate when both come from one original; the build's rule links "
        "equal pixel hashes or pHashes within d bits, then takes connected components.",
        "",
        "| max_distance d | pair precision | pair recall | false pairs |",
        "|---:|---:|---:|---:|",
        *[
            f"| {r['d']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['false_pairs']} |"
            for r in rows
        ],
        "",
        "Share of each variant found with its original, by d:",
        "",
        "| variant | " + " | ".join(f"d={r['d']}" for r in rows) + " |",
        "|---|" + "---:|" * len(rows),
        *[
            f"| {k} | " + " | ".join(f"{by_kind[r['d']][k]:.2f}" for r in rows) + " |"
            for k in kinds
        ],
        "",
        f"Through the whole pipeline at the default (`dedup.perceptual.max_distance: {default_d}`, "
        f"exact on pixels): {piped['removed']} removed ({piped['exact']} as exact copies), "
        f"{piped['correct']} of them kept their own original: precision **{piped['precision']:.4f}**, "
        f"recall **{piped['recall']:.4f}** (removed copies over all copies).",
        "",
        f"Pipeline throughput on {sp1['images']:,} generated 512x384 JPEG pairs (8 tar shards; read, "
        "decode and validate, pixel hash, pHash, exact and perceptual dedup, write shards; no "
        "caption filters):",
        "",
        f"- 1 process: {sp1['seconds']:.1f} s, **{sp1['images'] / sp1['seconds']:.0f} images/s per core** "
        f"(validate + both hashes alone: {inspect_rate:.0f} images/s)",
        f"- 2 processes: {sp2['seconds']:.1f} s, {sp2['images'] / sp2['seconds']:.0f} images/s",
        "- Both include the build's fixed costs (starting Beam and its workers, training the "
        "tokenizer on 200 captions, the dedup stages' shuffles: several seconds), so 2 processes "
        "do not reach twice the speed of 1 at this size.",
        "",
        "Loader on 1,000 generated 800x600 JPEG pairs (batches of 32, resize shorter side + centre "
        "crop, uint8; the anchor is a map-style torchvision DataLoader over the same JPEG files: "
        "`Resize`, `CenterCrop`, `PILToTensor`, in bench/.venv-loader). curate decodes JPEGs with "
        "Pillow's draft mode (libjpeg DCT scaling) when the target is at most half the size:",
        "",
        "| size | workers | curate images/s | torchvision/Pillow images/s | speed-up |",
        "|---:|---:|---:|---:|---:|",
        *[f"| {s} | {w} | {o:.0f} | {a:.0f} | {o / a:.2f}x |" for s, w, o, a in loader_rows],
        "",
        'GPU decoding (`image_decode="gpu"`, nvJPEG through torchvision): not measured, no GPU '
        "was lent to this task.",
    ]
    replace_section(args.out, "image-bench", lines)


if __name__ == "__main__":
    main()
