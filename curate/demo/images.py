"""A seeded multimodal demo: image-text pairs (WebDataset tar shards and a Parquet file) and
interleaved documents (JSONL with relative image paths and base64 images), with planted
problems listed in ``ground_truth.json``.

Images are drawn with Pillow (gradients and shapes), so the captions describe them truthfully.
Planted: exact duplicates (the same pixels saved in another format), near-duplicates (resized,
re-compressed as JPEG, a small watermark), broken images (truncated, random bytes), images too
small or too elongated, captions too short, records without a timestamp, and hostile tar
members (a ``..`` name, an absolute name, a symbolic link). Every copy is dated after its
original, so the survivor rule keeps the original.
"""

from __future__ import annotations

import base64
import io
import json
import random
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

START = datetime(2016, 1, 1, tzinfo=timezone.utc)
SPAN_DAYS = 8 * 365
COLORS = {
    "red": (200, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 70, 200),
    "yellow": (230, 210, 40),
    "purple": (130, 50, 160),
    "orange": (240, 140, 30),
    "black": (20, 20, 20),
    "white": (240, 240, 240),
}
SHAPES = ("circle", "square", "triangle", "bar")
SCENES = ("on a plain background", "over a soft gradient", "in a busy pattern")


def draw(rng: random.Random, size: tuple[int, int]):
    """An image and the caption that describes it."""
    from PIL import Image, ImageDraw

    w, h = size
    bg1, bg2 = rng.sample(sorted(COLORS), 2)
    scene = rng.randrange(len(SCENES))
    im = Image.new("RGB", size, COLORS[bg1])
    d = ImageDraw.Draw(im)
    if scene >= 1:  # a gradient in a random direction
        c1, c2 = COLORS[bg1], COLORS[bg2]
        horizontal = rng.random() < 0.5
        n = w if horizontal else h
        for k in range(n):
            t = k / max(n - 1, 1)
            fill = tuple(int(a + (b - a) * t) for a, b in zip(c1, c2, strict=True))
            d.line([(k, 0), (k, h)] if horizontal else [(0, k), (w, k)], fill=fill)
    if scene == 2:  # a pattern of dots
        for _ in range(80):
            x, y = rng.randrange(w), rng.randrange(h)
            r = rng.randint(3, 10)
            d.ellipse([x, y, x + r, y + r], fill=COLORS[rng.choice(sorted(COLORS))])
    parts = []
    for _ in range(rng.randint(2, 4)):
        color, shape = rng.choice(sorted(COLORS)), rng.choice(SHAPES)
        s = rng.randint(min(w, h) // 5, min(w, h) * 3 // 5)
        x0, y0 = rng.randrange(-s // 3, w - s // 2), rng.randrange(-s // 3, h - s // 2)
        box = [x0, y0, x0 + s, y0 + s]
        if shape == "circle":
            d.ellipse(box, fill=COLORS[color])
        elif shape == "square":
            d.rectangle(box, fill=COLORS[color])
        elif shape == "triangle":
            apex = (box[0] + rng.randrange(s), box[1])
            d.polygon([(box[0], box[3]), (box[2], box[3]), apex], fill=COLORS[color])
        else:
            d.rectangle([box[0], box[1], box[2], box[1] + max(6, s // 4)], fill=COLORS[color])
        parts.append(f"a {color} {shape}")
    # sensor-like noise: real photos do not compress to a few hundred bytes
    import numpy as np

    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 4, (h, w, 1))
    pixels = np.asarray(im, np.float64) + noise
    im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    caption = f"{', '.join(parts[:-1]) + ' and ' if len(parts) > 1 else ''}{parts[-1]}"
    caption = f"A picture of {caption} {SCENES[scene]}."
    return im, caption


def encode(im, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def _iso(day: float) -> str:
    return (START + timedelta(days=day)).isoformat().replace("+00:00", "Z")


def _pair(rid: str, image: bytes, ext: str, caption: str, timestamp: str | None) -> dict:
    return {"id": rid, "image": image, "ext": ext, "caption": caption, "timestamp": timestamp}


def generate_pairs(rng: random.Random, n: int) -> tuple[list[dict], dict]:
    """Image-text pair records (``image`` bytes, ``ext``, ``caption``, ``timestamp``, ``id``)."""
    from PIL import Image, ImageDraw

    truth: dict = {
        "originals": [],
        "exact_duplicates": [],
        "near_duplicates": [],
        "broken": [],
        "too_small": [],
        "bad_aspect": [],
        "short_caption": [],
        "undated": [],
        "pairs": [],
    }
    recs: list[dict] = []
    for i in range(n):
        size = (rng.choice((320, 352, 384)), rng.choice((288, 320, 352)))
        im, caption = draw(rng, size)
        day = rng.uniform(0, SPAN_DAYS * 0.9)
        rid = f"img-{i:05d}"
        fmt, ext = ("PNG", "png") if i % 3 == 0 else ("JPEG", "jpg")
        data = encode(im, fmt, quality=85) if fmt == "JPEG" else encode(im, fmt)
        recs.append(_pair(rid, data, ext, caption, _iso(day)))
        truth["originals"].append(rid)
        kind = i % 10
        later = _iso(min(day + rng.uniform(1, 200), SPAN_DAYS - 1))
        if kind == 1:  # the same decoded pixels, saved as lossless WebP
            copy = encode(Image.open(io.BytesIO(data)), "WEBP", lossless=True)
            recs.append(_pair(f"exact-{i:05d}", copy, "webp", f"Photo: {caption}", later))
            truth["exact_duplicates"].append(f"exact-{i:05d}")
            truth["pairs"].append([rid, f"exact-{i:05d}", "exact"])
        elif kind in (2, 3, 4):
            variant = ["resized", "jpeg", "watermark"][kind - 2]
            if variant == "resized":
                v = im.resize((im.width * 3 // 4, im.height * 3 // 4))
                vdata = encode(v, "PNG")
            elif variant == "jpeg":
                vdata = encode(im, "JPEG", quality=70)
            else:
                v = im.copy()
                ImageDraw.Draw(v).text((8, v.height - 16), "(c) demo", fill=(255, 255, 255))
                vdata = encode(v, "PNG")
            vid = f"near-{variant}-{i:05d}"
            recs.append(_pair(vid, vdata, "jpg" if variant == "jpeg" else "png", caption, later))
            truth["near_duplicates"].append(vid)
            truth["pairs"].append([rid, vid, variant])
    extra = [
        ("broken", "broken-trunc", lambda: recs[0]["image"][: len(recs[0]["image"]) // 2], "png"),
        ("broken", "broken-random", lambda: bytes(rng.randrange(256) for _ in range(2000)), "jpg"),
        ("too_small", "small", lambda: encode(draw(rng, (96, 96))[0], "PNG"), "png"),
        ("bad_aspect", "banner", lambda: encode(draw(rng, (960, 240))[0], "PNG"), "png"),
    ]

    def when() -> str:
        return _iso(rng.uniform(0, SPAN_DAYS - 1))

    for j in range(4):  # arguments run left to right: an image's draws come before its date
        for key, prefix, make, ext in extra:
            rid = f"{prefix}-{j}"
            recs.append(_pair(rid, make(), ext, "A picture of a thing.", when()))
            truth[key].append(rid)
        im, _ = draw(rng, (256, 256))
        recs.append(_pair(f"short-{j}", encode(im, "PNG"), "png", "img", when()))
        truth["short_caption"].append(f"short-{j}")
        im, caption = draw(rng, (256, 256))
        recs.append(_pair(f"undated-{j}", encode(im, "PNG"), "png", caption, None))
        truth["undated"].append(f"undated-{j}")
    rng.shuffle(recs)
    return recs, truth


def write_tar(path: Path, recs: list[dict], hostile: bool) -> int:
    """img2dataset's layout: KEY.<ext> + KEY.txt + KEY.json. Returns the hostile members."""
    n_hostile = 0
    with tarfile.open(path, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))

        for k, r in enumerate(recs):
            key = f"{k:06d}"
            add(f"{key}.{r['ext']}", r["image"])
            add(f"{key}.txt", r["caption"].encode())
            meta = {"id": r["id"], "caption": r["caption"], "url": f"https://example.org/{r['id']}"}
            if r["timestamp"]:
                meta["timestamp"] = r["timestamp"]
            add(f"{key}.json", json.dumps(meta).encode())
            if hostile and k in (3, 7):
                add("../escape.txt" if k == 3 else "/etc/absolute.jpg", b"hostile")
                n_hostile += 1
            if hostile and k == 5:
                link = tarfile.TarInfo("000005.link.jpg")
                link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "/etc/passwd", 0
                tar.addfile(link)
                n_hostile += 1
    return n_hostile


def generate_interleaved(rng: random.Random, root: Path, n: int) -> tuple[list[dict], dict]:
    """Interleaved documents: paragraphs with images between them, images as relative paths
    (under ``images/``) or inline base64; some documents point at a broken image."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    from curate.demo.writer import _pick_topic, _Writer, _year_frac

    writer = _Writer(rng)
    docs, truth = [], {"documents": [], "broken_image": [], "images": 0}
    for i in range(n):
        day = rng.uniform(0, SPAN_DAYS - 1)
        t = _year_frac(START + timedelta(days=day))
        topic = _pick_topic(rng, t)
        paragraphs = writer.article(topic, t).split("\n\n")
        places = set(rng.sample(range(len(paragraphs)), min(len(paragraphs), rng.randint(1, 3))))
        segments: list[dict] = []
        for p, para in enumerate(paragraphs):
            segments.append({"text": para})
            if p not in places:
                continue
            im, caption = draw(rng, (rng.choice((288, 320)), 256))
            if rng.random() < 0.5:
                name = f"images/doc{i:04d}-{p}.png"
                (root / name).write_bytes(encode(im, "PNG"))
                segments.append({"image": name})
            else:
                data = encode(im, "JPEG", quality=85)
                segments.append({"image_base64": base64.b64encode(data).decode()})
            segments.append({"text": caption})
            truth["images"] += 1
        doc = {"id": f"il-{i:05d}", "timestamp": _iso(day), "content": segments}
        if i % 25 == 7:
            (root / f"images/broken{i:04d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
            doc["content"].insert(1, {"image": f"images/broken{i:04d}.png"})
            truth["broken_image"].append(doc["id"])
        docs.append(doc)
        truth["documents"].append(doc["id"])
    return docs, truth


def generate_multimodal(
    out_dir: str | Path, n_pairs: int = 400, n_docs: int = 120, seed: int = 0
) -> dict:
    """Write ``pairs/`` (tar shards + one Parquet file) and ``interleaved/`` under ``out_dir``;
    return the ground truth (also written as ``ground_truth.json``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    root = Path(out_dir)
    pairs_dir = root / "pairs"
    pairs_dir.mkdir(parents=True, exist_ok=True)
    recs, truth = generate_pairs(rng, n_pairs)
    n_parquet = len(recs) // 5
    table = pa.table(
        {
            "id": [r["id"] for r in recs[:n_parquet]],
            "image": pa.array([r["image"] for r in recs[:n_parquet]], pa.binary()),
            "caption": [r["caption"] for r in recs[:n_parquet]],
            "timestamp": [r["timestamp"] for r in recs[:n_parquet]],
        }
    )
    pq.write_table(table, pairs_dir / "pairs-parquet.parquet")
    rest = recs[n_parquet:]
    shards = 3
    hostile = 0
    for s in range(shards):
        part = rest[s::shards]
        hostile += write_tar(pairs_dir / f"pairs-{s:04d}.tar", part, hostile=s == 0)
    truth["pair_records"] = len(recs)
    truth["hostile_members"] = hostile
    inter_dir = root / "interleaved"
    docs, itruth = generate_interleaved(rng, inter_dir, n_docs)
    with open(inter_dir / "docs.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    ground = {"pairs": truth, "interleaved": itruth}
    (root / "ground_truth.json").write_text(json.dumps(ground, indent=1))
    return ground
