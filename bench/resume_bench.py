"""Crash resume: a build SIGKILLed (its whole process group) at 30%, 60% and 90% of an
uninterrupted build's time, then the same command: the rerun's time as a share of the full
build, and whether every byte matches. For one big file and for many small files. Also what
resumability costs an uninterrupted build: time and peak disk, against the last curate before
it (``PREVIOUS``, checked out as a worktree and run on this environment's packages).

Corpus: the end-to-end bench's (``build_bench.make_corpus``: real prose and demo articles),
54 MB of JSONL, as one file or as 108 files of 0.5 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psutil
from build_bench import PROSE, make_corpus
from sections import replace_section

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "resume"
PREVIOUS = "5e65ded"  # the last commit before resumable builds (the layering of issue 40)
SMALL_FILES = 108
POINTS = (0.3, 0.6, 0.9)
RUNS = 2  # uninterrupted builds per version; the faster one is reported


def layouts(corpus: Path) -> dict[str, Path]:
    """The corpus as one big file, and as many small ones (same records, same order)."""
    lines = [line for p in sorted(corpus.glob("*.jsonl")) for line in p.open("rb")]
    out = {}
    for name, parts in (("one big file", 1), (f"{SMALL_FILES} small files", SMALL_FILES)):
        folder = WORK / name.replace(" ", "-")
        if not (folder / "DONE").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            per = -(-len(lines) // parts)
            for i in range(parts):
                (folder / f"part-{i:05d}.jsonl").write_bytes(
                    b"".join(lines[i * per : (i + 1) * per])
                )
            (folder / "DONE").write_text("")
        out[name] = folder
    return out


def config(inputs: Path, out: Path, tokenizer: Path) -> Path:
    cfg = {
        "input": {"paths": [str(inputs / "*.jsonl")]},
        "filters": [{"gopher_quality": {}}],
        "dedup": {"exact": True, "near": {"threshold": 0.8}},
        "tokenizer": {"path": str(tokenizer)},
        "temporal": {
            "period": "quarter",
            "splits": {"train": [None, "2022-01-01"], "test": ["2022-01-01", None]},
        },
        "output": {"dir": str(out)},
    }
    path = out.parent / f"{out.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg))
    return path


def previous_curate() -> Path:
    """``curate`` as it was at ``PREVIOUS``: its worktree first on the path, this
    environment's packages after it (bench/.venv-prev, a venv without pip)."""
    tree, venv = WORK / "previous", ROOT / "bench" / ".venv-prev"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "-f", str(tree), PREVIOUS], cwd=ROOT, check=True)
    for npy in (ROOT / "filters" / "lists").glob("*.npy"):  # the URL list, if compiled
        shutil.copy(npy, tree / "filters" / "lists" / npy.name)
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    target = next((venv / "lib").glob("python*")) / "site-packages" / "zz_previous.pth"
    target.write_text(f"{tree}\n{site / 'site-packages'}\n")
    exe = venv / "bin" / "curate"
    exe.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom curate.cli import main\nsys.exit(main())\n"
    )
    exe.chmod(0o755)
    return exe


def du(path: Path) -> int:
    total = 0
    for d, _, names in os.walk(path):
        for n in names:
            try:
                total += os.path.getsize(os.path.join(d, n))
            except OSError:
                pass
    return total


def build(exe: Path, cfg: Path, out: Path, kill_after: float | None = None) -> dict:
    """One build in a process group of its own, its peak disk use sampled; SIGKILLed after
    ``kill_after`` seconds when given."""
    args = [str(exe), "build", str(cfg), "--", "--runner=FnApiRunner",
            "--direct_running_mode=multi_processing", "--direct_num_workers=2"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "CURATE_FAILPOINT"}
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.25):
            peak = max(peak, du(out))

    t0 = time.perf_counter()
    p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)  # fmt: skip
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if kill_after is not None:
        try:
            p.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    stdout, stderr = p.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if kill_after is None and p.returncode != 0:
        raise RuntimeError(f"build failed:\n{stderr[-3000:]}")
    resumed = next((line for line in stderr.splitlines() if "resuming:" in line), None)
    return {"wall_s": wall, "peak_disk_mb": peak / 1e6, "returncode": p.returncode,
            "resumed": resumed}  # fmt: skip


def corpus_digest(out: Path) -> str:
    h = hashlib.sha256()
    for sub in ("tokens", "rejected", "quarantine", "dedup"):
        for p in sorted((out / sub).rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(out)).encode())
                h.update(p.read_bytes())
    for name in ("stats.json", "manifest.json"):
        h.update((out / name).read_bytes())
    return h.hexdigest()


def clean(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)


def run() -> dict:
    corpus = WORK / "corpus-54mb"
    docs, nbytes = make_corpus(corpus, 54_000_000)
    now = Path(sys.executable).parent / "curate"
    before = previous_curate()
    tokenizer = WORK / "tokenizer.json"
    if not tokenizer.exists():
        subprocess.run([str(now), "train-tokenizer", str(config(corpus, WORK / "tok", tokenizer)),
                        "--out", str(tokenizer), "--vocab-size", "32000"], check=True)  # fmt: skip
    results = {"docs": docs, "bytes": nbytes, "layouts": {}}
    for name, inputs in layouts(corpus).items():
        out = WORK / "out"
        cfg = config(inputs, out, tokenizer)
        row: dict = {"files": len(list(inputs.glob("*.jsonl")))}
        full, prev = [], []
        for _ in range(RUNS):
            for exe, runs in ((now, full), (before, prev)):
                clean(out)
                runs.append(build(exe, cfg, out))
                if exe == now:
                    reference = corpus_digest(out)
        best = min(full, key=lambda r: r["wall_s"])
        row["full"] = best
        row["previous"] = min(prev, key=lambda r: r["wall_s"])
        row["kills"] = []
        for point in POINTS:
            clean(out)
            killed = build(now, cfg, out, kill_after=point * best["wall_s"])
            again = build(now, cfg, out)
            row["kills"].append({
                "at": point,
                "killed_rc": killed["returncode"],
                "rerun_s": again["wall_s"],
                "share": again["wall_s"] / best["wall_s"],
                "goal": 1 - point + 0.1,
                "resumed": again["resumed"],
                "identical": corpus_digest(out) == reference,
            })  # fmt: skip
        results["layouts"][name] = row
        clean(out)
    return results


def render(r: dict) -> list[str]:
    machine = (
        f"{platform.node() or 'host'}: {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}"
    )
    lines = [
        "## Crash resume (issue 41)",
        "",
        f"- Machine: {machine}; date {r.get('date', date.today().isoformat())}",
        "- Command: `python bench/resume_bench.py` (part of `make bench`)",
        f"- Corpus: {r['docs']:,} documents, {r['bytes'] / 1e6:.0f} MB of JSONL (the end-to-end "
        "bench's prose and articles), as one file or as 108 files; filters: gopher_quality; "
        "exact and near dedup; a fixed 32k BPE tokenizer; FnApiRunner, 2 worker processes; "
        "`input.unit_bytes` at its default (16 MB: the big file is 4 units, a small file one)",
        "- A build is SIGKILLed with its whole process group at 30%, 60% and 90% of the "
        "uninterrupted build's time, then the same command is run; **share** is the rerun's "
        "time over the uninterrupted build's, **goal** the work remaining plus 10%. "
        "**identical**: shards, rejected, quarantine, dedup state, stats and manifest are the "
        "uninterrupted build's, byte for byte.",
        "",
        "| input | killed at | rerun | share | goal | identical | the rerun's first line |",
        "|---|---:|---:|---:|---:|:---:|---|",
    ]
    for name, row in r["layouts"].items():
        for k in row["kills"]:
            first = k["resumed"] or "(nothing saved yet)"
            lines.append(
                f"| {name} | {k['at']:.0%} | {k['rerun_s']:.1f} s | **{k['share']:.2f}** | "
                f"{k['goal']:.2f} | {'yes' if k['identical'] else '**no**'} | `{first}` |"
            )
    lines += [
        "",
        f"What resumability costs an uninterrupted build, against curate at `{PREVIOUS}` (the "
        "commit before it) on the same machine and packages, the faster of "
        f"{RUNS} runs each:",
        "",
        "| input | uninterrupted | before resume | time | peak disk | before resume | disk |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in r["layouts"].items():
        f, p = row["full"], row["previous"]
        lines.append(
            f"| {name} | {f['wall_s']:.1f} s | {p['wall_s']:.1f} s | "
            f"{f['wall_s'] / p['wall_s'] - 1:+.1%} | {f['peak_disk_mb']:.0f} MB | "
            f"{p['peak_disk_mb']:.0f} MB | {f['peak_disk_mb'] / p['peak_disk_mb'] - 1:+.1%} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--render", action="store_true", help="rewrite the section from the last run")
    args = ap.parse_args()
    saved = ROOT / "bench" / "results" / "resume.json"
    if args.render:
        r = json.loads(saved.read_text())
    else:
        if not PROSE.exists():
            sys.exit(f"benchmark data not found: {PROSE}")
        r = {**run(), "date": date.today().isoformat()}
        saved.write_text(json.dumps(r, indent=1))
    replace_section(Path(args.out), "resume", render(r))


if __name__ == "__main__":
    main()
