"""Reliability figures for RELIABILITY.md: fuzz cases run per reader, builds over random mixes
of good and bad records, SIGKILL crash points tried, hostile files, and records lost.

Runs the properties of tests/test_fuzz_readers.py with many more cases (and fresh random
cases each run, unlike the tests' fixed ones), and kills real builds at random moments.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "evaldata"


def fuzz_readers(cases: int) -> dict[str, Counter]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests import test_fuzz_readers as fz

    conf = settings(
        max_examples=cases,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    results: dict[str, Counter] = {}

    def campaign(fmt: str, tally: Counter):
        @conf
        @given(ops=fz.OPS)
        def mutated(ops):
            tally["cases"] += 1
            tally.update(fz.check_mutated(fmt, ops))

        @conf
        @given(data=st.binary(max_size=4096))
        def random_bytes(data):
            tally["cases"] += 1
            tally.update(fz.check_random(fmt, data))

        mutated()
        random_bytes()

    for fmt in sorted(fz.SEEDS):
        results[fmt] = Counter()
        campaign(fmt, results[fmt])
    tally = Counter()

    @conf
    @given(values=st.lists(fz.RECORDS, min_size=1, max_size=6))
    def hostile_json(values):
        tally["cases"] += 1
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "in.jsonl"
            path.write_bytes(
                b"\n".join(
                    json.dumps(v, allow_nan=True).encode("utf-8", "surrogatepass") for v in values
                )
                + b"\n"
            )
            counts = fz.consume(path)
            assert sum(counts.values()) == len(values)
            tally.update(counts)

    hostile_json()
    results["hostile JSON values"] = tally
    return results


def accounting(builds: int) -> tuple[int, int, int]:
    """Builds over random mixes; returns (builds, records, records not found exactly once)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests import test_fuzz_readers as fz

    seen = {"builds": 0, "records": 0}
    inner = fz.test_every_record_of_a_random_mix_is_in_exactly_one_place.hypothesis.inner_test

    @settings(max_examples=builds, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(kinds=st.lists(st.sampled_from(fz.KINDS), min_size=20, max_size=80))
    def run(kinds):
        seen["builds"] += 1
        seen["records"] += sum(1 for k in kinds if k != "blank")
        inner(kinds)  # raises if any record is lost or duplicated

    run()
    return seen["builds"], seen["records"], 0


def crash_points(points: int, seed: int) -> dict:
    """Kill ``curate build`` with SIGKILL after a random delay, check what it left, rerun,
    compare with an uninterrupted build."""
    from curate.demo.text import generate
    from tests.conftest import demo_config, tree_digest

    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="crash-"))
    generate(work / "demo", n_docs=700, seed=7, huge_doc_bytes=2_200_000)
    exe = str(Path(sys.executable).parent / "curate")
    beam = ["--", "--runner=FnApiRunner"]

    def config(name: str) -> Path:
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(demo_config(work / "demo" / "raw", work / name)))
        return path

    t0 = time.perf_counter()
    subprocess.run([exe, "build", str(config("ref")), *beam], check=True, capture_output=True)
    full = time.perf_counter() - t0
    ref = tree_digest(work / "ref")
    result = {"points": 0, "identical": 0, "partial_named": 0, "delays": [], "build_s": full}
    for k in range(points):
        name = f"run{k}"
        cfg = config(name)
        delay = rng.uniform(0.5, full)
        p = subprocess.Popen([exe, "build", str(cfg), *beam], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        out = work / name
        manifest = out / "manifest.json"
        if manifest.exists():  # every file it names must be whole
            m = json.loads(manifest.read_text())
            for s in m["shards"]:
                data = (out / s["path"]).read_bytes()
                if hashlib.sha256(data).hexdigest() != s["sha256"]:
                    result["partial_named"] += 1
        extra = ["--overwrite"] if manifest.exists() else []
        subprocess.run([exe, "build", str(cfg), *extra, *beam], check=True, capture_output=True)
        result["points"] += 1
        result["identical"] += tree_digest(out) == ref
        result["delays"].append(round(delay, 2))
    return result


def atheris_campaign(runs: int) -> dict:
    """Coverage-guided runs of bench/fuzz_atheris.py; a crash fails the whole run."""
    import re

    corpus = Path(tempfile.mkdtemp(prefix="atheris-corpus-"))
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz_atheris.py"), f"-runs={runs}",
         "-max_len=8192", str(corpus)],
        capture_output=True, text=True,
    )  # fmt: skip
    if r.returncode != 0:
        raise SystemExit(f"atheris found a crash:\n{r.stderr[-4000:]}")
    done = re.search(r"Done (\d+) runs in (\d+) second", r.stderr)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", r.stderr)
    return {
        "runs": int(done.group(1)),
        "seconds": int(done.group(2)),
        "edges": int(cov[-1][0]) if cov else None,
        "corpus": len(list(corpus.iterdir())),
    }


PEAK = """
import resource, sys
sys.path.insert(0, sys.argv[2])
from tests.test_fuzz_readers import consume
from pathlib import Path
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(dict(consume(Path(sys.argv[1]))), before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bomb_memory() -> list[tuple[str, str, float]]:
    """Peak resident memory (MB) of reading hostile large inputs, in a fresh process each."""
    import gzip

    import zstandard

    from curate.demo.web import http_response, record

    line = b"x" * 100_000_000
    rng = random.Random(0)
    when = datetime(2020, 1, 1, tzinfo=timezone.utc)
    bomb = http_response(gzip.compress(line * 2, 9, mtime=0), Content_Encoding="gzip")
    cases = {
        "100 MB single JSONL line": ("jsonl", line + b"\n"),
        "gzip bomb: 200 MB line in 194 KB": ("jsonl.gz", gzip.compress(line * 2, 9, mtime=0)),
        "zstd bomb: 200 MB line in 7 KB": ("jsonl.zst", zstandard.compress(line * 2, 19)),
        "WARC page of 100 MB": ("warc", record("response", rng, when, http_response(line))),
        "WARC page whose gzip body expands to 200 MB": (
            "warc",
            record("response", rng, when, bomb),
        ),
    }
    out = []
    with tempfile.TemporaryDirectory() as d:
        for name, (ext, data) in cases.items():
            path = Path(d) / f"in.{ext}"
            path.write_bytes(data)
            r = subprocess.run([sys.executable, "-c", PEAK, str(path), str(ROOT)],
                               capture_output=True, text=True, check=True)  # fmt: skip
            outcome, before, after = r.stdout.strip().rsplit(" ", 2)
            out.append((name, outcome, (int(after) - int(before)) / 1024))
    return out


def hostile_files() -> dict[str, int]:
    from curate.demo.images import generate_multimodal
    from curate.demo.text import generate

    with tempfile.TemporaryDirectory() as d:
        text = generate(Path(d) / "t", n_docs=200, seed=0, huge_doc_bytes=2_200_000)
        mm = generate_multimodal(Path(d) / "m", 100, 30, seed=0)
    pairs = mm["pairs"]
    return {
        "demo text corpus: broken records (invalid JSON/UTF-8, surrogates, wrong types, "
        "bad timestamps, a 2.2 MB record, a truncated gzip)": text["broken_total"],
        "multimodal demo: broken images, hostile tar members, undated records": len(pairs["broken"])
        + pairs["hostile_members"]
        + len(pairs["undated"]),
        "multimodal demo: interleaved documents with a broken image": len(
            mm["interleaved"]["broken_image"]
        ),
        "evaldata images: undecodable files": len(list((EVAL / "images" / "broken").iterdir())),
        "evaldata images: malformed but decodable files (must be kept)": len(
            list((EVAL / "images" / "malformed_decodable").iterdir())
        ),
    }


def fuzz_configs_and_manifests(cases: int) -> dict[str, Counter]:
    """tests/test_fuzz_configs.py's properties with many more, fresh cases."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from curate.demo.text import generate
    from tests import test_fuzz_configs as fc
    from tests.conftest import build, demo_config

    conf = settings(
        max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    out: dict[str, Counter] = {"config files": Counter(), "corpus manifests": Counter()}

    @conf
    @given(ops=fc.OPS)
    def configs(ops):
        out["config files"]["cases"] += 1
        out["config files"].update(fc.check_config(fc.mutate(fc.SEED_CONFIG, ops)))

    configs()
    with tempfile.TemporaryDirectory() as d:
        generate(Path(d) / "demo", n_docs=150, seed=3, huge_doc_bytes=10_000)
        build(demo_config(Path(d) / "demo" / "raw", Path(d) / "sandbox" / "corpus"))
        root, sandbox = Path(d) / "sandbox" / "corpus", Path(d) / "sandbox"
        seed = (root / "manifest.json").read_bytes()

        @settings(conf, max_examples=max(1, cases // 4))
        @given(ops=fc.OPS, field=st.sampled_from(["path", "bytes", "sha256", "split"]),
               value=st.one_of(st.none(), st.integers(-5, 10**12), st.text(max_size=40)))  # fmt: skip
        def manifests(ops, field, value):
            out["corpus manifests"]["cases"] += 4  # two manifests, each read locally and as a URI
            out["corpus manifests"].update(fc.check_manifest(root, fc.mutate(seed, ops), sandbox))
            m = json.loads(seed)
            m["shards"][0][field] = value
            out["corpus manifests"].update(fc.check_manifest(root, json.dumps(m).encode(), sandbox))

        manifests()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "RELIABILITY.md")
    ap.add_argument("--cases", type=int, default=1000, help="fuzz cases per reader and kind")
    ap.add_argument("--builds", type=int, default=20)
    ap.add_argument("--crash-points", type=int, default=8)
    ap.add_argument("--atheris-runs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    t0 = time.perf_counter()
    fuzz = fuzz_readers(args.cases)
    settings_fuzz = fuzz_configs_and_manifests(args.cases)
    builds, records, lost = accounting(args.builds)
    crash = crash_points(args.crash_points, args.seed)
    hostile = hostile_files()
    ath = atheris_campaign(args.atheris_runs)
    memory = bomb_memory()
    if crash["identical"] != crash["points"] or crash["partial_named"]:
        raise SystemExit(f"crash test failed: {crash}")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Reliability",
        "",
        f"- Date: {now}; machine: {os.cpu_count()} cores, Python {platform.python_version()}",
        f"- Command: `make reliability` (`python bench/reliability.py --cases {args.cases} "
        f"--builds {args.builds} --crash-points {args.crash_points} --atheris-runs "
        f"{args.atheris_runs}`), seed {args.seed}; "
        f"{time.perf_counter() - t0:.0f} s",
        "",
        "## Fuzzed readers",
        "",
        "Each case is one file: a valid seed file mutated (byte flips, deletions, insertions, "
        "truncation, duplicated runs) or random bytes, read and parsed end to end. The property: "
        "every record ends as a document or a quarantine entry with an error; any exception, "
        "hang or lost record fails the run.",
        "",
        "| input | cases | documents | quarantined (reader) | quarantined (parser) | uncaught |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, t in fuzz.items():
        bad = sum(v for k, v in t.items() if k.startswith("bad."))
        quar = sum(v for k, v in t.items() if k.startswith("quarantine."))
        lines.append(f"| {name} | {t['cases']:,} | {t['document']:,} | {bad:,} | {quar:,} | 0 |")
    lines += [
        "",
        "## Fuzzed configs and manifests",
        "",
        "Config files: the demo-style seed config mutated byte by byte, loaded; the property: a "
        "valid config or a `ConfigError` with a message (aliases, duplicate keys, wrong types "
        "and out-of-range numbers included). Manifests: a built corpus's manifest mutated byte "
        "by byte or with any value in a shard entry, then read by the loader (local and as a "
        "`file://` URI through the cache) and by `verify`; the property: read as it says or "
        "refused with a `CorpusError`, and no file written outside the corpus and the cache.",
        "",
        "| input | cases | accepted | refused | uncaught |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {name} | {t['cases']:,} | {t['valid'] + t['read']:,} | {t['refused']:,} | 0 |"
            for name, t in settings_fuzz.items()
        ],
    ]
    lines += [
        "",
        f"Coverage-guided (atheris 3.0, libFuzzer; bench/fuzz_atheris.py, the same property, "
        f"the first byte picks the format): **{ath['runs']:,} runs** in {ath['seconds']} s, "
        f"{ath['edges']} coverage edges in curate's code, {ath['corpus']} inputs kept in the "
        "corpus, 0 crashes.",
        "",
        "Memory of hostile large inputs (peak resident growth while reading, fresh process; "
        "`input.max_doc_bytes` at the fuzz tests' 4 KB):",
        "",
        "| input | outcome | peak growth MB |",
        "|---|---|---:|",
        *[f"| {n} | {o} | {m:.1f} |" for n, o, m in memory],
        "",
        "## Accounting",
        "",
        f"{builds} builds over random mixes of good records, copies, invalid JSON and UTF-8, "
        "arrays, missing text, absurd timestamps, oversized records, NUL-only and too-short "
        f"texts and blank lines: {records:,} records, each found exactly once in the shards, "
        f"`rejected/` or `quarantine/`; records lost or duplicated: **{lost}**.",
        "",
        "## Crash and rerun",
        "",
        f"{crash['points']} builds of the 700-document demo killed with SIGKILL at random moments "
        f"(seconds after start: {', '.join(map(str, crash['delays']))}; a whole build takes "
        f"{crash['build_s']:.1f} s), then rerun: {crash['identical']} of {crash['points']} final "
        "outputs byte-identical to an uninterrupted build; shards named by a manifest but "
        f"incomplete: **{crash['partial_named']}**.",
        "",
        "## Hostile files in the test corpora",
        "",
        "| where | files or records |",
        "|---|---:|",
        *[f"| {k} | {v} |" for k, v in hostile.items()],
        "",
        "Records lost across all of the above: **0** (any loss fails the run before this file is "
        "written).",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
