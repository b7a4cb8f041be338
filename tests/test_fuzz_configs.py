"""Property-based fuzzing of what a user or another party hands curate besides records: config
files and corpus manifests. A mutated config is either a valid config or a ``ConfigError``
naming the problem; a mutated manifest is either read as it says or refused with a
``CorpusError`` (the loader) or a problem line (``verify``), and no file outside the corpus or
the cache is ever written. bench/reliability.py runs the same properties with more cases."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.core.errors import ConfigError
from curate.driver.config_file import load_config
from curate.format.manifest import CorpusError
from tests.test_fuzz_readers import OPS, mutate

CASES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

SEED_CONFIG = b"""\
input:
  paths: [raw/*.jsonl]
  max_doc_bytes: 2000000
filters:
  - langid: {languages: [en, de], min_score: 0.5}
  - gopher_quality: {min_words: 20}
  - toxicity: {threshold: 0.4, mode: lines}
dedup:
  exact: true
  near: {threshold: 0.8, num_perm: 64}
  lines: {unit: paragraph}
tokenizer:
  train: {vocab_size: 2000, sample_docs: 300}
temporal:
  period: quarter
  splits: {train: [null, 2022-01-01], test: [2022-01-01, null]}
  held_out: {fraction: 0.1}
output: {dir: out, shard_tokens: 3000, work_dir: work}
"""


def check_config(data: bytes) -> Counter:
    """Load a config file's bytes: valid, or a ConfigError; anything else fails."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        path.write_bytes(data)
        try:
            load_config(path, base_dir=Path(d))
        except ConfigError as e:
            assert str(e).strip(), "an error without a message"
            return Counter(refused=1)
    return Counter(valid=1)


def test_seed_config_is_valid():
    assert check_config(SEED_CONFIG) == Counter(valid=1)


def test_a_yaml_date_that_is_no_date_is_refused():
    """Found by `make reliability`: PyYAML raised ValueError for `2022-02-30`."""
    bad = SEED_CONFIG.replace(b"[2022-01-01, null]", b"[2022-02-30, null]")
    assert bad != SEED_CONFIG and check_config(bad) == Counter(refused=1)


@pytest.mark.parametrize("part", ["input", "output", "tokenizer", "dedup", "temporal"])
def test_a_section_that_is_not_a_mapping_is_refused(part):
    """Found by `make reliability`: `input: x` (a truncated config) raised AttributeError."""
    import yaml

    cfg = yaml.safe_load(SEED_CONFIG)
    cfg[part] = "x"
    assert check_config(yaml.safe_dump(cfg).encode()) == Counter(refused=1)


@CASES
@given(ops=OPS)
def test_mutated_configs_load_or_are_refused(ops):
    check_config(mutate(SEED_CONFIG, ops))


@CASES
@given(
    key=st.sampled_from(
        ["input.max_doc_bytes", "output.shard_tokens", "dedup.near.threshold",
         "dedup.near.num_perm", "tokenizer.train.vocab_size", "temporal.held_out.fraction",
         "filters"]
    ),
    value=st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
        st.text(max_size=8), st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    ),
)  # fmt: skip
def test_any_value_at_any_key_loads_or_is_refused(key, value):
    import yaml

    cfg = yaml.safe_load(SEED_CONFIG)
    *parents, last = key.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    node[last] = value
    check_config(yaml.safe_dump(cfg).encode())


# -- manifests ----------------------------------------------------------------------------------
def check_manifest(root: Path, data: bytes, sandbox: Path) -> Counter:
    """Read a corpus whose manifest is ``data`` through the loader (local and as a URI with a
    cache) and ``verify``; nothing but CorpusError/ValueError may escape, and nothing outside
    the corpus and the cache may change."""
    from curate.format.verify import verify_corpus
    from curate.loader import CorpusDataset

    (root / "manifest.json").write_bytes(data)
    before = sorted(p.name for p in sandbox.iterdir())
    outcome = Counter()
    for uri in (str(root), f"file://{root}"):
        try:
            ds = CorpusDataset(uri, seq_len=16, cache_dir=str(sandbox / "cache"))
            for _ in zip(range(3), ds, strict=False):
                pass
            outcome["read"] += 1
        except (CorpusError, ValueError) as e:
            assert str(e).strip()
            outcome["refused"] += 1
    assert isinstance(verify_corpus(str(root)), list)
    assert sorted(p.name for p in sandbox.iterdir() if p.name != "cache") == [
        n for n in before if n != "cache"
    ]
    return outcome


@pytest.fixture(scope="module")
def small_corpus(demo_build, tmp_path_factory):
    out, _, _ = demo_build
    sandbox = tmp_path_factory.mktemp("sandbox")
    root = sandbox / "corpus"
    shutil.copytree(out, root)
    return root, sandbox, (out / "manifest.json").read_bytes()


MANIFEST_CASES = settings(CASES, max_examples=25)


@MANIFEST_CASES
@given(ops=OPS)
def test_mutated_manifests_are_read_or_refused(small_corpus, ops):
    root, sandbox, seed = small_corpus
    check_manifest(root, mutate(seed, ops), sandbox)


@MANIFEST_CASES
@given(
    field=st.sampled_from(
        ["path", "bytes", "sha256", "documents", "tokens", "split", "period"]
        + ["min_time", "max_time"]
    ),
    value=st.one_of(
        st.none(), st.integers(-5, 10**12), st.text(max_size=40),
        st.sampled_from(["/etc/passwd", "../x.arrow", "tokens/../../y", "c:\\x", "s3://b/k"]),
    ),
)  # fmt: skip
def test_any_shard_entry_value_is_read_or_refused(small_corpus, field, value):
    root, sandbox, seed = small_corpus
    manifest = json.loads(seed)
    manifest["shards"][0][field] = value
    check_manifest(root, json.dumps(manifest).encode(), sandbox)


def test_a_shard_time_that_is_no_time_is_refused(small_corpus):
    """Found by `make reliability`: `verify` raised ValueError on a mangled ``min_time``."""
    from curate.format.verify import verify_corpus

    root, sandbox, seed = small_corpus
    manifest = json.loads(seed)
    manifest["shards"][0]["min_time"] = "2017,01-20T21:50:36+00:00"
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert any("is not an ISO 8601 time" in p for p in verify_corpus(str(root)))


@pytest.mark.parametrize("change", [{"max_time": None}, {"min_time": None}, "swapped"])
def test_a_shard_time_range_that_is_half_null_or_reversed_is_refused(small_corpus, change):
    """Found by `make reliability`: `verify` raised TypeError on a shard whose ``max_time``
    was null beside a ``min_time``; the loader's time selection had the same fault."""
    from curate.format.verify import verify_corpus
    from curate.loader import CorpusDataset

    root, sandbox, seed = small_corpus
    manifest = json.loads(seed)
    shard = manifest["shards"][0]
    if change == "swapped":
        shard["min_time"], shard["max_time"] = "2030-01-01T00:00:00Z", "2000-01-01T00:00:00Z"
    else:
        shard.update(change)
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert any("min_time and max_time must both be" in p for p in verify_corpus(str(root)))
    with pytest.raises(CorpusError, match="min_time and max_time"):
        CorpusDataset(str(root), seq_len=16, cache_dir=str(sandbox / "cache"))
