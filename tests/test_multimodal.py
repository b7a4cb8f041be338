"""Multimodal corpora: image validation and hashing on real files, hostile tar shards, the
image-text and interleaved builds against the generator's ground truth, and the loader."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from curate.core.images import ImageError, ImageLimits, hamming, inspect_image
from curate.readers.files import read_file
from curate.readers.records import BadRecord, RawRecord
from tests.conftest import IN_MEMORY, MULTI_PROCESS, assert_same_corpus, build, evaldata


@pytest.fixture()
def images_dir():
    return evaldata("images")


def _png(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


# -- images ---------------------------------------------------------------------------------
def test_broken_images_are_refused_with_the_decoders_error_and_malformed_ones_kept(images_dir):
    for path in sorted((images_dir / "broken").iterdir()):
        with pytest.raises(ImageError) as e:
            inspect_image(path.read_bytes())
        assert e.value.kind == "image_corrupt", path.name
        assert "Error" in str(e.value), path.name  # the decoder's own error type and message
    for path in sorted((images_dir / "malformed_decodable").iterdir()):
        rec = inspect_image(path.read_bytes())
        assert rec.width > 0 and rec.height > 0, path.name


def test_pixel_hash_matches_lossless_reencodings_and_phash_stays_close_under_lossy_ones(
    images_dir,
):
    for path in sorted((images_dir / "files").iterdir())[:8]:
        data = path.read_bytes()
        ref = inspect_image(data)
        im = Image.open(io.BytesIO(data))
        webp = inspect_image(_png(im, "WEBP", lossless=True))
        assert webp.pixel_hash == ref.pixel_hash, path.name
        assert webp.data != data  # other bytes, same pixels
        if im.mode == "L":  # grayscale stored as RGB: the same pixels
            assert inspect_image(_png(im.convert("RGB"))).pixel_hash == ref.pixel_hash
        jpeg = inspect_image(_png(im.convert("RGB"), "JPEG", quality=70))
        assert jpeg.pixel_hash != ref.pixel_hash
        assert hamming(jpeg.phash, ref.phash) <= 4, path.name
        small = inspect_image(_png(im.resize((im.width // 2, im.height // 2))))
        assert hamming(small.phash, ref.phash) <= 4, path.name


def test_limits_refuse_bombs_before_decoding_and_oversized_files():
    bomb = _png(Image.new("L", (4000, 4000)))  # 16 M pixels in a few KB
    assert len(bomb) < 100_000
    with pytest.raises(ImageError) as e:
        inspect_image(bomb, ImageLimits(max_pixels=1_000_000))
    assert e.value.kind == "image_too_many_pixels"
    with pytest.raises(ImageError) as e:
        inspect_image(bomb, ImageLimits(max_bytes=len(bomb) - 1))
    assert e.value.kind == "image_too_large"
    with pytest.raises(ImageError) as e:
        inspect_image(bomb, ImageLimits(formats=("JPEG",)))
    assert e.value.kind == "image_unsupported_format"
    with pytest.raises(ImageError):
        inspect_image(b"")


def test_images_are_hashed_stored_and_decoded_as_displayed():
    """Found by probing: a phone photo's EXIF orientation was dropped by re-encoding (stored
    sideways), and Pillow's clipping turned 16-bit PNGs white, so distinct ones shared a
    pixel hash and all but one were removed as exact duplicates."""
    from curate.core.images import StorePolicy
    from curate.loader.image_decode import decode_resize

    im = Image.new("RGB", (400, 200), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 200, 200))  # the left half blue
    exif = im.getexif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90 degrees clockwise (blue on top)
    tagged = _png(im, "JPEG", exif=exif)
    kept = inspect_image(tagged)
    stored = inspect_image(tagged, store=StorePolicy(mode="reencode"))
    assert (kept.width, kept.height) == (200, 400) == (stored.width, stored.height)
    assert Image.open(io.BytesIO(stored.data)).size == (200, 400)
    assert kept.pixel_hash == stored.pixel_hash
    for data in (tagged, stored.data):  # the loader shows both upright too
        pixels = decode_resize(data, 64)
        assert pixels[2, 2, 32] > 200 > pixels[0, 2, 32]  # blue on top
        assert pixels[0, 61, 32] > 200 > pixels[2, 61, 32]  # red below
    torch = pytest.importorskip("torch")
    from curate.loader.image_decode import _is_jpeg  # nvJPEG ignores the tag: Pillow decodes it

    as_tensor = lambda d: torch.frombuffer(bytearray(d), dtype=torch.uint8)  # noqa: E731
    assert not _is_jpeg(as_tensor(tagged)) and _is_jpeg(as_tensor(stored.data))

    rng = np.random.default_rng(0)
    deep = [
        _png(Image.fromarray((rng.random((64, 64)) * 60000 + 1000).astype(np.uint16))) for _ in "ab"
    ]
    a, b = (inspect_image(d) for d in deep)
    assert a.mode == "I;16" and a.pixel_hash != b.pixel_hash and hamming(a.phash, b.phash) > 10
    ramp = _png(Image.fromarray(np.linspace(0, 65535, 4096).reshape(64, 64).astype(np.uint16)))
    shown = inspect_image(ramp, store=StorePolicy(mode="reencode", format="PNG"))
    assert 120 < np.asarray(Image.open(io.BytesIO(shown.data)).convert("L")).mean() < 135
    assert 120 < decode_resize(ramp, 32).mean() < 135
    for flat in (-1.0, 1e6):  # a flat image outside [0, 255] (no range to scale by)
        inspect_image(_png(Image.fromarray(np.full((8, 8), flat, np.float32)), "TIFF"))
    half = _png(Image.fromarray(np.full((8, 8), 0.5, np.float32)), "TIFF")
    assert (
        120
        < np.asarray(
            Image.open(
                io.BytesIO(
                    inspect_image(half, store=StorePolicy(mode="reencode", format="PNG")).data
                )
            )
        ).mean()
        < 135
    )


# -- WebDataset tar reading -----------------------------------------------------------------
def _tar(path: Path, members: list[tuple[str, bytes | None, str]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, "000.jpg"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_tar_groups_samples_and_quarantines_hostile_members(tmp_path):
    img = _png(Image.new("RGB", (8, 8), (1, 2, 3)))
    path = tmp_path / "shard.tar"
    _tar(
        path,
        [
            ("000.jpg", img, "file"),
            ("000.txt", b"a caption", "file"),
            ("000.json", json.dumps({"timestamp": "2020-01-01"}).encode(), "file"),
            ("../escape.txt", b"x", "file"),
            ("/abs/001.jpg", img, "file"),
            ("002.link.jpg", None, "sym"),
            ("003.jpg", None, "hard"),
            ("004.jpg", b"\0" * 5000, "file"),  # over the member limit below
            ("dir/005.png", img, "file"),
            ("dir/005.txt", "caption \u00e9".encode(), "file"),
        ],
    )
    recs = list(read_file(str(path), max_doc_bytes=4000))
    kinds = [r.kind if isinstance(r, BadRecord) else "ok" for r in recs]
    assert kinds == [
        "ok",
        "tar_unsafe_member",
        "tar_unsafe_member",
        "tar_unsafe_member",
        "tar_unsafe_member",
        "too_large",
        "ok",
    ]
    first, last = recs[0], recs[-1]
    assert first.value["jpg"] == img and first.value["txt"] == "a caption"
    assert first.value["timestamp"] == "2020-01-01"
    assert last.value["__key__"] == "dir/005" and last.value["txt"] == "caption \u00e9"
    assert [r.position for r in recs] == list(range(1, 8))


def test_truncated_tar_keeps_the_samples_before_the_break(tmp_path):
    img = _png(Image.new("RGB", (64, 64), (200, 10, 10)))
    path = tmp_path / "full.tar"
    _tar(path, [(f"{i:03d}.png", img, "file") for i in range(6)])
    data = path.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    recs = list(read_file(str(cut)))
    assert isinstance(recs[-1], BadRecord) and recs[-1].kind == "read_error"
    assert all(isinstance(r, RawRecord) for r in recs[:-1]) and len(recs) >= 3
    assert all(r.value["png"] == img for r in recs[:-1])


def test_a_sample_cut_between_its_members_is_not_kept_without_them(tmp_path):
    """The break falls after a sample's image and before its caption: the image alone must
    not pass for the sample."""
    img = _png(Image.new("RGB", (64, 64), (200, 10, 10)))
    path = tmp_path / "full.tar"
    _tar(
        path,
        [
            (f"{i:03d}.{ext}", data, "file")
            for i in range(3)
            for ext, data in (("png", img), ("txt", b"a caption"))
        ],
    )
    with tarfile.open(path) as tar:
        last_txt = tar.getmembers()[-1].offset  # the caption's header block
    cut = tmp_path / "cut.tar"
    cut.write_bytes(path.read_bytes()[:last_txt])
    recs = list(read_file(str(cut)))
    assert [type(r).__name__ for r in recs] == ["RawRecord", "RawRecord", "BadRecord"]
    assert recs[-1].kind == "read_error" and "'002' is incomplete" in recs[-1].error
    assert all(r.value["txt"] == "a caption" for r in recs[:-1])


# -- builds of the multimodal demo ----------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from curate.demo.images import generate_multimodal

    root = tmp_path_factory.mktemp("mm")
    truth = generate_multimodal(root / "data", n_pairs=150, n_docs=40, seed=3)
    return root, truth


def _pairs_config(data: Path, out: Path) -> dict:
    return {
        "input": {"paths": [str(data / "pairs" / "*")], "modality": "image_text"},
        "dedup": {"exact": True, "buckets": 8, "perceptual": {"max_distance": 6}},
        "tokenizer": {"train": {"vocab_size": 600, "sample_docs": 500}},
        "temporal": {
            "period": "year",
            "splits": {"train": [None, "2022-01-01"], "test": ["2022-01-01", None]},
        },
        "output": {"dir": str(out), "shard_tokens": 800, "rows_per_batch": 16},
    }


@pytest.fixture(scope="module")
def pairs_build(demo):
    root, truth = demo
    out = root / "out-pairs"
    stats = build(_pairs_config(root / "data", out))
    return out, stats, truth["pairs"]


def _rows(out: Path, sub: str) -> list[dict]:
    return [json.loads(ln) for p in sorted((out / sub).glob("*.jsonl")) for ln in p.open()]


def _shard_rows(out: Path) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    rows = []
    for s in manifest["shards"]:
        with pa.memory_map(str(out / s["path"])) as f:
            rows += pa.ipc.open_file(f).read_all().to_pylist()
    return rows


def test_image_text_build_accounts_for_every_record(pairs_build):
    out, stats, truth = pairs_build
    assert stats["balance"]["balanced"]
    # every pair, every hostile tar member, nothing else
    assert stats["input_records"] == truth["pair_records"] + truth["hostile_members"]
    q = stats["quarantined"]["by_error"]
    assert q["tar_unsafe_member"] == truth["hostile_members"] == 3
    assert q["image_corrupt"] == len(truth["broken"])
    assert q["timestamp_missing"] == len(truth["undated"])
    removed = {r["id"]: r["reason"] for r in _rows(out, "rejected")}
    for rid in truth["too_small"]:
        assert removed[rid] == "image_size.too_small"
    for rid in truth["bad_aspect"]:
        assert removed[rid] == "image_size.aspect_ratio"
    for rid in truth["short_caption"]:
        assert removed[rid] == "caption_length.too_few_words"


def test_image_dedup_finds_the_planted_copies_and_keeps_the_originals(pairs_build):
    out, stats, truth = pairs_build
    rejected = {r["id"]: r for r in _rows(out, "rejected")}
    filtered = {i for i, r in rejected.items() if not r["reason"].startswith("dedup.")}
    dups = {i: r for i, r in rejected.items() if r["reason"].startswith("dedup.")}
    expected = {}
    for orig, copy, kind in truth["pairs"]:
        if orig in filtered or copy in filtered:
            continue  # a filter removed one side first
        expected[copy] = (orig, kind)
    exact = [c for c, (_, k) in expected.items() if k == "exact"]
    near = [c for c, (_, k) in expected.items() if k in ("resized", "jpeg")]
    assert exact and near
    for copy in exact:
        assert dups[copy]["reason"] == "dedup.exact_duplicate"
        assert dups[copy]["kept_id"] == expected[copy][0]
    for copy in near:  # resized and re-compressed copies are within 2 bits here
        assert dups[copy]["reason"] == "dedup.near_duplicate"
        assert dups[copy]["kept_id"] == expected[copy][0]
        assert dups[copy]["similarity"] >= 1 - 6 / 64
    unplanted = [i for i in dups if i not in expected]
    assert not unplanted  # no unrelated image removed
    for r in dups.values():  # the survivor is the earliest copy, so no later split keeps one
        assert r["kept_timestamp"] <= r["timestamp"]
        assert r["kept_split"] == r["split"] or (r["kept_split"], r["split"]) == ("train", "test")
    kept = {r["doc_id"] for r in _shard_rows(out)}
    assert {o for o, _ in expected.values()} <= kept


def test_shards_hold_images_and_image_tokens_where_they_go(pairs_build):
    out, _, _ = pairs_build
    manifest = json.loads((out / "manifest.json").read_text())
    image_id = manifest["tokenizer"]["image_id"]
    rows = _shard_rows(out)
    assert rows
    for r in rows:
        assert len(r["images"]) == 1
        image = r["images"][0]
        assert r["input_ids"][image["token_pos"]] == image_id == r["input_ids"][0]
        assert r["input_ids"].count(image_id) == 1
        rec = inspect_image(image["bytes"])  # the stored bytes are the original, valid image
        assert (rec.width, rec.height) == (image["width"], image["height"])
        assert rec.pixel_hash == image["pixel_hash"]


def test_image_text_build_is_byte_identical_across_workers(demo, pairs_build):
    root, _ = demo
    out, stats, _ = pairs_build
    other = root / "out-pairs-mp"
    stats2 = build(_pairs_config(root / "data", other), MULTI_PROCESS)
    assert_same_corpus((out, stats), (other, stats2))


def test_interleaved_build_places_every_image(demo):
    root, truth = demo
    data, out = root / "data", root / "out-il"
    stats = build(
        {
            "input": {"paths": [str(data / "interleaved" / "*.jsonl")], "modality": "interleaved"},
            "filters": [{"c4": {}}, {"pii": {}}],
            "tokenizer": {"train": {"vocab_size": 800, "sample_docs": 500}},
            "temporal": {"period": "year"},
            "output": {"dir": str(out), "shard_tokens": 5000},
        },
        IN_MEMORY,
    )
    it = truth["interleaved"]
    assert stats["balance"]["balanced"]
    assert stats["quarantined"]["by_error"] == {"image_corrupt": len(it["broken_image"])}
    image_id = json.loads((out / "manifest.json").read_text())["tokenizer"]["image_id"]
    rows = _shard_rows(out)
    assert sum(len(r["images"]) for r in rows) > 0
    for r in rows:
        positions = [i for i, t in enumerate(r["input_ids"]) if t == image_id]
        assert positions == [im["token_pos"] for im in r["images"]]
        assert r["text"].count("\ufffc") == len(r["images"])  # C4 kept every image's line
    source = {
        json.loads(ln)["id"]: json.loads(ln) for ln in (data / "interleaved/docs.jsonl").open()
    }
    for r in rows[:10]:  # the images are the document's, in order
        segs = [s for s in source[r["doc_id"]]["content"] if "text" not in s]
        assert len(segs) == len(r["images"])
        for seg, im in zip(segs, r["images"], strict=True):
            raw = (
                (data / "interleaved" / seg["image"]).read_bytes()
                if "image" in seg
                else base64.b64decode(seg["image_base64"])
            )
            assert raw == im["bytes"]


def test_unsafe_image_paths_and_missing_images_are_quarantined(tmp_path):
    (tmp_path / "in").mkdir()
    secret = tmp_path / "secret.png"
    secret.write_bytes(_png(Image.new("RGB", (300, 300))))
    docs = [
        {
            "id": "a",
            "timestamp": "2020-01-01",
            "content": [{"text": "x"}, {"image": "../secret.png"}],
        },
        {"id": "b", "timestamp": "2020-01-01", "content": [{"image": str(secret)}]},
        {"id": "c", "timestamp": "2020-01-01", "content": [{"image": "missing.png"}]},
        {"id": "d", "timestamp": "2020-01-01", "content": [{"image_base64": "not base64!"}]},
        {"id": "e", "timestamp": "2020-01-01", "content": "not a list"},
    ]
    (tmp_path / "in" / "d.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    from curate.driver.config_file import parse_config
    from curate.stages.parse import RecordError, RecordParser

    cfg = parse_config(
        {
            "input": {"paths": ["x"], "modality": "interleaved"},
            "tokenizer": {"train": {}},
            "output": {"dir": "o"},
        }
    )
    parser = RecordParser(cfg.input, cfg.temporal, cfg.images)
    kinds = []
    for rec in read_file(str(tmp_path / "in" / "d.jsonl")):
        with pytest.raises(RecordError) as e:
            parser.parse(rec.value, "0:1", str(tmp_path / "in" / "d.jsonl"))
        kinds.append(e.value.kind)
    assert kinds == ["unsafe_path", "unsafe_path", "image_missing", "image_corrupt", "bad_type"]


def test_parquet_images_as_bytes_paths_and_hf_structs(tmp_path):
    import pyarrow.parquet as pq

    from curate.driver.config_file import parse_config
    from curate.stages.parse import RecordParser

    img = _png(Image.new("RGB", (300, 240), (9, 9, 9)))
    (tmp_path / "img.png").write_bytes(img)
    for value in (img, "img.png", {"bytes": img, "path": None}, {"bytes": None, "path": "img.png"}):
        kind = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        typ = (
            kind
            if isinstance(value, dict)
            else (pa.binary() if isinstance(value, bytes) else pa.string())
        )
        pq.write_table(
            pa.table(
                {
                    "image": pa.array([value], typ),
                    "text": ["a grey picture here"],
                    "timestamp": ["2020-01-01"],
                }
            ),
            tmp_path / "p.parquet",
        )
        cfg = parse_config(
            {
                "input": {"paths": ["x"], "modality": "image_text"},
                "tokenizer": {"train": {}},
                "output": {"dir": "o"},
            }
        )
        (rec,) = read_file(str(tmp_path / "p.parquet"))
        doc = RecordParser(cfg.input, cfg.temporal, cfg.images).parse(
            rec.value, "0:0", str(tmp_path / "p.parquet")
        )
        assert doc.images[0].data == img and doc.text == "a grey picture here"


def test_c4_keeps_image_placeholder_lines():
    from curate.core.document import Document
    from filters.c4 import C4

    text = (
        "This is a full sentence with enough words.\n\ufffc\n"
        "Another full sentence, with words.\nIt ends here with words."
    )
    d = C4().apply(Document(id="x", text=text, timestamp=0))
    assert (d.text or text).count("\ufffc") == 1


# -- loader ---------------------------------------------------------------------------------
def test_loader_yields_images_at_their_token_positions_and_resumes(pairs_build):
    torch = pytest.importorskip("torch")
    from curate.loader import CorpusDataset, CorpusLoader

    out, _, _ = pairs_build

    def loader(**kw):
        ds = CorpusDataset(str(out), split="train", seq_len=32, pack=False, image_size=64, **kw)
        return ds, CorpusLoader(ds, batch_size=4, num_workers=0)

    ds, dl = loader()
    batches = list(dl)
    assert sum(len(b["input_ids"]) for b in batches) == len(
        ds.order().samples(np.arange(ds.order().n_samples))
    )
    for b in batches:
        pos = b["image_positions"].long()
        assert b["images"].shape == (len(pos), 3, 64, 64) and b["images"].dtype == torch.uint8
        assert (b["input_ids"][pos[:, 0], pos[:, 1]] == ds.corpus.image_id).all()
        assert len(pos) == len(b["input_ids"])  # one image per pair
    # exact resumption: a new loader from the state after 3 batches gives the rest
    ds2, dl2 = loader()
    it = iter(dl2)
    for _ in range(3):
        next(it)
    state = dl2.state_dict()
    ds3, dl3 = loader()
    dl3.load_state_dict(state)
    rest = list(dl3)
    for a, b in zip(batches[3:], rest, strict=True):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["images"], b["images"])
    # GPU mode hands over the encoded bytes; decoding them on the CPU gives the same pixels
    from curate.loader.image_decode import decode_resize

    ds4, dl4 = loader(image_decode="gpu")
    first = next(iter(dl4))
    offs = first["image_offsets"].tolist()
    for i in range(len(offs) - 1):
        data = first["image_bytes"][offs[i] : offs[i + 1]].numpy().tobytes()
        assert np.array_equal(decode_resize(data, 64), batches[0]["images"][i].numpy())


def test_loader_refuses_packing_a_multimodal_corpus(pairs_build):
    pytest.importorskip("torch")
    from curate.loader import CorpusDataset

    with pytest.raises(ValueError, match="pack=False"):
        CorpusDataset(str(pairs_build[0]), split="train")


def test_readme_multimodal_training_loop_runs(pairs_build, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    out, _, _ = pairs_build
    readme = (ROOT / "docs" / "multimodal.md").read_text()
    section = readme[readme.index("# Multimodal corpora") :]
    code = section[section.index("```python\n") + 10 :]
    code = code[: code.index("```\n")].replace('"out/demo-pairs"', repr(str(out)))
    code += "assert step >= 3 and torch.isfinite(loss)\nprint('trained')\n"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "trained" in run.stdout


def test_verify_catches_images_out_of_place(pairs_build, tmp_path):
    import hashlib
    import shutil

    from curate.format.verify import verify_corpus

    out = tmp_path / "copy"
    shutil.copytree(pairs_build[0], out)
    assert verify_corpus(str(out)) == []
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["shards"][0]
    path = out / entry["path"]
    with pa.memory_map(str(path)) as f:
        table = pa.ipc.open_file(f).read_all()
    rows = table.to_pylist()
    rows[0]["images"][0]["token_pos"] += 1  # the image now claims a caption token
    moved = pa.Table.from_pylist(rows, schema=table.schema)
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(moved)
    data = path.read_bytes()
    entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (out / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_corpus(str(out))
    assert any("token_pos" in p for p in problems), problems


def test_pigeonhole_bands_catch_every_pair_within_the_distance():
    from curate.dedup.perceptual import PerceptualParams, hash_similarity

    rng = np.random.default_rng(0)
    for d in (0, 3, 6, 8, 12):
        p = PerceptualParams(d)
        assert sum(hi - lo for lo, hi in p.ranges()) == 64 and len(p.ranges()) == d + 1
        for _ in range(300):
            a = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))
            flips = rng.choice(64, size=int(rng.integers(0, d + 1)), replace=False)
            b = a
            for bit in flips.tolist():
                b ^= 1 << bit
            sa = np.array([a >> 32, a & 0xFFFFFFFF], np.uint32)
            sb = np.array([b >> 32, b & 0xFFFFFFFF], np.uint32)
            assert set(p.band_keys(sa)) & set(p.band_keys(sb))
            assert hash_similarity(sa, sb) == 1 - len(flips) / 64 >= p.threshold


def test_reencode_policy_stores_a_smaller_copy_with_the_same_hashes():
    from curate.core.images import StorePolicy

    im = Image.new("RGB", (1200, 800), (10, 120, 200))
    data = _png(im)
    orig = inspect_image(data)
    small = inspect_image(data, store=StorePolicy("reencode", "JPEG", max_side=300, quality=80))
    assert (small.width, small.height) == (300, 200) and small.format == "JPEG"
    assert small.data[:2] == b"\xff\xd8" and small.orig_bytes == len(data)
    # hashes describe the input picture, so dedup does not depend on the storage choice
    assert (small.pixel_hash, small.phash) == (orig.pixel_hash, orig.phash)


def test_drift_report_describes_images_per_period(pairs_build, tmp_path):
    from curate.drift.report import write_report

    out, _, _ = pairs_build
    rep = write_report(str(out), str(tmp_path / "report"), sample=50)
    rows = {r["period"]: r for r in rep["images"]}
    kept = {}
    for r in _shard_rows(out):
        kept[str(r["timestamp"].year)] = kept.get(str(r["timestamp"].year), 0) + len(r["images"])
    assert {p: r["images"] for p, r in rows.items()} == kept
    first = rows[rep["periods"][0]]
    assert first["share_without_earlier_neighbour"] == 1.0  # nothing came before
    assert all(0 < r["share_without_earlier_neighbour"] <= 1 for r in rows.values())
    assert "images.png" in rep["plots"]


def test_gpu_decode_path_matches_pillow_on_the_cpu_device(pairs_build):
    """The nvJPEG path (torchvision's batched decode_jpeg, resize per shape group) run with
    torchvision's CPU decoder gives the Pillow path's pixels up to resampling differences.
    Skipped where torchvision is not installed (the project's .venv: PyPI's torchvision does
    not load beside the CPU torch build); run by hand in bench/.venv-loader (torch 2.14.1,
    torchvision 0.29.1) and on CUDA by bench/gpu_bench.py."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from curate.loader import CorpusDataset, CorpusLoader
    from curate.loader.image_decode import _decode_torchvision, _parts

    out, _, _ = pairs_build
    common = dict(split="train", seq_len=32, pack=False, image_size=64, shuffle=False)
    raw = next(iter(CorpusLoader(CorpusDataset(str(out), image_decode="gpu", **common), 4)))
    ref = next(iter(CorpusLoader(CorpusDataset(str(out), **common), 4)))
    got = _decode_torchvision(_parts(raw), 64, torch.device("cpu"))
    assert got.shape == ref["images"].shape and got.dtype == torch.uint8
    assert (got.float() - ref["images"].float()).abs().mean() < 4


def test_to_device_decodes_encoded_images_where_there_is_no_gpu(pairs_build):
    """The GPU-decoding training loop runs unchanged on a CPU machine: to_device decodes the
    workers' encoded bytes with Pillow, giving exactly the CPU-decoding loader's batches."""
    torch = pytest.importorskip("torch")
    from curate.loader import CorpusDataset, CorpusLoader, to_device

    out, _, _ = pairs_build
    common = dict(split="train", seq_len=32, pack=False, image_size=48, seed=3)
    gpu_mode = CorpusLoader(CorpusDataset(str(out), image_decode="gpu", **common), 8, num_workers=2)
    cpu_mode = CorpusLoader(CorpusDataset(str(out), **common), 8, num_workers=2)
    got, ref = list(to_device(gpu_mode, "cpu")), list(cpu_mode)
    assert len(got) == len(ref) > 1
    for a, b in zip(got, ref, strict=True):
        assert "image_bytes" not in a and sorted(a) == sorted(b)
        assert all(torch.equal(a[k], b[k]) for k in b)
    with pytest.raises(ValueError, match="image_size"):
        next(to_device(list(gpu_mode), "cpu"))  # a plain list has no dataset to ask


def test_decontamination_cuts_text_and_keeps_every_image(demo, tmp_path):
    """``remove_span`` on interleaved documents: the line holding an evaluation item's text is
    cut, the image placeholders stay, and every image keeps its token position."""
    root, _ = demo
    data = root / "data"
    docs = [json.loads(ln) for ln in (data / "interleaved/docs.jsonl").open()]
    picked = [d for d in docs if len(d["content"][0].get("text", "").split()) >= 20][:3]
    items = [{"id": d["id"], "text": d["content"][0]["text"]} for d in picked]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    out = tmp_path / "out"
    stats = build(
        {
            "input": {"paths": [str(data / "interleaved" / "*.jsonl")], "modality": "interleaved"},
            "filters": [],
            "decontamination": {
                "benchmarks": [{"path": str(tmp_path / "eval.jsonl")}],
                "action": "remove_span",
            },
            "tokenizer": {"train": {"vocab_size": 800, "sample_docs": 500}},
            "temporal": {"period": "year"},
            "output": {"dir": str(out), "shard_tokens": 5000},
        },
        IN_MEMORY,
    )
    assert stats["balance"]["balanced"]
    assert stats["decontamination"]["benchmarks"]["eval"]["items"] == len(items) > 0
    image_id = json.loads((out / "manifest.json").read_text())["tokenizer"]["image_id"]
    rows = {r["doc_id"]: r for r in _shard_rows(out)}
    for item in items:
        r = rows[item["id"]]
        assert item["text"] not in r["text"] and r["text"].count("\ufffc") == len(r["images"])
        positions = [i for i, t in enumerate(r["input_ids"]) if t == image_id]
        assert positions == [im["token_pos"] for im in r["images"]] and positions
