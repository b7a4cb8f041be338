"""The command line as people meet it: the default runner never reaches the network, a build
reports progress, and every failure ends with one line ``curate: error: <cause> (<path>)`` and
exit status 2, the traceback only with ``-v``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, demo_config

EXE = str(Path(sys.executable).parent / "curate")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    from curate.demo.text import generate

    root = tmp_path_factory.mktemp("cli_demo")
    generate(root, n_docs=400, seed=5, huge_doc_bytes=50_000)
    return root / "raw"


def _config(tmp_path: Path, raw: Path, **overrides) -> Path:
    cfg = demo_config(raw, tmp_path / "out", **overrides)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


PROGRESS = re.compile(r"curate: .*, \d+:\d\d:\d\d elapsed(, ETA .*)?")


def _one_line_failure(r: subprocess.CompletedProcess) -> str:
    """The error line; besides it, at most the line naming Beam's log. Progress lines (one
    every 10 s of a build that is not on a terminal) are not part of the failure's output: a
    slow machine prints more of them before the build gives up."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = [
        ln for ln in r.stderr.strip().splitlines()
        if not PROGRESS.fullmatch(ln)
    ]  # fmt: skip
    assert lines and lines[-1].startswith("curate: error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and len(lines) <= 2, r.stderr[-2000:]
    return lines[-1]


SITECUSTOMIZE = """
import os, socket
_LOG = os.environ["CURATE_NET_LOG"]
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0", "[::1]")


def _record(what, address):
    host = address[0] if isinstance(address, tuple) and address else address
    if isinstance(host, bytes):
        host = host.decode()
    if isinstance(host, str) and (host.startswith(_LOCAL) or host.startswith("/")):
        return
    with open(_LOG, "a") as f:
        f.write(f"{os.getpid()} {what} {address!r}\\n")
    raise OSError(101, "network refused by the test")


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def connect(self, address):
    if self.family != socket.AF_UNIX:
        _record("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family != socket.AF_UNIX:
        _record("connect_ex", address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    _record("getaddrinfo", (host,))
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.getaddrinfo = getaddrinfo
"""


def _networkless(tmp_path: Path) -> dict:
    hook = tmp_path / "nethook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "net.log"
    log.write_text("")
    path = os.pathsep.join([str(hook), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path, "CURATE_NET_LOG": str(log)}


def test_default_build_never_reaches_the_network_and_shows_progress(raw, tmp_path):
    """Issue 19 items 1 and 5: the default runner (FnApiRunner, one worker process per core)
    runs with every non-loopback connection refused at the socket level in the driver and in
    every worker process, and attempts none; Beam's own log lines stay out of the output and
    plain progress lines come instead (stderr is not a terminal here)."""
    env = {**_networkless(tmp_path), "CURATE_PROGRESS_SECONDS": "0.3"}
    r = _run("build", str(_config(tmp_path, raw)), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "net.log").read_text() == ""
    assert "balanced             True" in r.stdout
    lines = r.stderr.strip().splitlines()
    assert lines and all(line.startswith("curate: ") for line in lines), lines[:5]
    assert any(" files, " in line and "records" in line for line in lines)
    assert not any("INFO" in line or "WARNING" in line for line in lines)


def test_the_old_default_would_have_been_caught(raw, tmp_path):
    """The DirectRunner (Beam >= 2.68) tries to download the Prism runner first: the same
    harness records that attempt, so the test above can fail."""
    env = _networkless(tmp_path)
    _run("build", str(_config(tmp_path, raw)), "--", "--runner=DirectRunner", env=env)
    assert "getaddrinfo" in (tmp_path / "net.log").read_text()


@pytest.mark.parametrize("case", ["missing_input", "directory_input", "missing_tokenizer",
                                  "invalid_tokenizer", "bad_beam_option", "unknown_runner",
                                  "permission_denied"])  # fmt: skip
def test_each_failure_is_one_line(raw, tmp_path, case):
    """Issue 19 item 6 (and issue 26 item 16): no wall of tracebacks."""
    cfg = _config(tmp_path, raw)
    args: list[str] = []
    data = yaml.safe_load(cfg.read_text())
    if case == "missing_input":
        data["input"]["paths"] = [str(tmp_path / "nothing" / "*.jsonl")]
    elif case == "directory_input":
        data["input"]["paths"] = [str(raw)]
    elif case == "missing_tokenizer":
        data["tokenizer"] = {"path": str(tmp_path / "no-such-tokenizer.json")}
    elif case == "invalid_tokenizer":
        (tmp_path / "tok.json").write_text('{"model": "not a tokenizer"}')
        data["tokenizer"] = {"path": str(tmp_path / "tok.json")}
    elif case == "bad_beam_option":
        args = ["--", "--runner=FnApiRunner", "--direct_num_workers=many"]
    elif case == "unknown_runner":
        args = ["--", "--runner=NoSuchRunner"]
    elif case == "permission_denied":  # sysfs refuses every writer, root included
        data["output"]["dir"] = "/sys/curate-test-output"
    cfg.write_text(yaml.safe_dump(data))
    line = _one_line_failure(_run("build", str(cfg), *args))
    expected = {
        "missing_input": "matches no file",
        "directory_input": "is a directory",
        "missing_tokenizer": "no-such-tokenizer.json",
        "invalid_tokenizer": "cannot load tokenizer",
        "bad_beam_option": "direct_num_workers=many",
        "unknown_runner": "NoSuchRunner",
        "permission_denied": "/sys/curate-test-output",
    }[case]
    assert expected in line, line
    if case == "missing_input":  # -v: the whole story
        r = _run("-v", "build", str(cfg))
        assert r.returncode == 2 and "Traceback" in r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith("curate: error:")


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 1 MB file system (tmpfs; needs root, as CI and the development machines run)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode:
        pytest.skip(f"cannot mount a small file system here: {r.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_is_one_line_and_leaves_no_manifest(raw, tmp_path, tiny_disk):
    cfg = _config(tmp_path, raw)
    data = yaml.safe_load(cfg.read_text())
    data["output"]["dir"] = str(tiny_disk / "out")
    cfg.write_text(yaml.safe_dump(data))
    line = _one_line_failure(_run("build", str(cfg)))
    assert "No space left on device" in line, line
    assert not (tiny_disk / "out" / "manifest.json").exists()


def test_a_killed_worker_is_named(raw, tmp_path):
    """A worker process killed (as the OOM killer does, SIGKILL) until the build gives up: one
    line saying so, instead of the runner's queue timeout."""
    cfg = _config(tmp_path, raw, dedup={"exact": True, "near": {"threshold": 0.8}})
    proc = subprocess.Popen([EXE, "build", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    import psutil

    end = time.time() + 300
    while proc.poll() is None and time.time() < end:
        try:
            workers = [
                c for c in psutil.Process(proc.pid).children(recursive=True)
                if "sdk_worker_main" in " ".join(c.cmdline())
            ]  # fmt: skip
            for c in workers:
                c.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
        time.sleep(0.2)
    _, err = proc.communicate(timeout=60)
    r = subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
    line = _one_line_failure(r)
    assert "worker process was killed by signal 9" in line, line


def test_verify_and_drift_report_progress(demo_build, tmp_path):
    """Issue 19 item 5: plain progress lines for verify and drift when not a terminal."""
    out, _, _ = demo_build
    env = {"CURATE_PROGRESS_SECONDS": "0"}
    r = _run("verify", str(out), env=env)
    assert r.returncode == 0 and "curate: verifying:" in r.stderr, r.stderr
    r = _run("drift", str(out), "--out", str(tmp_path / "report"), env=env)
    assert r.returncode == 0 and "curate: reading periods:" in r.stderr, r.stderr
    shutil.rmtree(tmp_path / "report")
