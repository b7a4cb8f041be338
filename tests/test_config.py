import pytest

from curate.core.errors import ConfigError
from curate.driver.config_file import load_config, parse_config

BASE = {
    "input": {"paths": ["x.jsonl"]},
    "tokenizer": {"path": "tok.json"},
    "output": {"dir": "out"},
}


def _with(**parts):
    cfg = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for key, value in parts.items():
        cfg[key] = value
    return cfg


def _error(cfg) -> str:
    with pytest.raises(ConfigError) as e:
        parse_config(cfg)
    return str(e.value)


def test_minimal_config_has_documented_defaults():
    cfg = parse_config(BASE)
    assert cfg.input.text_field == "text" and cfg.temporal.period == "quarter"
    assert cfg.temporal.undated == "quarantine" and cfg.dedup.exact is True
    assert cfg.output.shard_tokens == 50_000_000


def test_unknown_key_is_named():
    msg = _error(_with(input={"paths": ["x"], "text_feild": "body"}))
    assert "input.text_feild: unknown key" in msg


def test_bad_value_is_named():
    msg = _error(_with(temporal={"period": "week"}))
    assert "temporal.period" in msg


def test_tokenizer_needs_exactly_one_source():
    assert "exactly one of 'path' or 'train'" in _error(_with(tokenizer={}))


def test_year_bounds_are_years_not_epoch_seconds():
    # `train: [null, 2021]` was epoch second 2021 (1970): every document fell in the next split
    cfg = parse_config(_with(temporal={"splits": {"train": [None, 2021], "test": ["2021", None]}}))
    assert cfg.temporal.splits["train"][1].isoformat() == "2021-01-01T00:00:00+00:00"
    assert cfg.temporal.splits["test"][0] == cfg.temporal.splits["train"][1]


def test_overlapping_splits_rejected():
    msg = _error(_with(temporal={"splits": {"a": [None, "2021-01-01"], "b": ["2020-06-01", None]}}))
    assert "overlap" in msg


@pytest.mark.parametrize("name", ["../escape", "a/b", "x=y", "", ".hidden", "s p"])
def test_split_names_cannot_escape_the_output_directory(name):
    """Split names become directories (tokens/split=<name>/): no paths, no '=', no dots."""
    msg = _error(_with(temporal={"splits": {name: [None, None]}}))
    assert "split name" in msg
    msg = _error(_with(temporal={"undated_split": name, "undated": "keep"}))
    assert "split name" in msg
    assert parse_config(_with(temporal={"splits": {"train_2020-a": [None, None]}}))


def test_unknown_filter_and_parameter_named():
    assert "filters[0].nope: unknown filter" in _error(_with(filters=[{"nope": {}}]))
    msg = _error(_with(filters=[{"gopher_quality": {"min_wrods": 3}}]))
    assert "filters[0].gopher_quality.min_wrods: unknown parameter" in msg
    assert "must not exceed" in _error(
        _with(filters=[{"gopher_quality": {"min_words": 10, "max_words": 5}}])
    )


def test_yaml_errors_and_relative_paths(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("input: {paths: [raw/*.jsonl]}\ntokenizer: {path: t.json}\noutput: {dir: o}\n")
    cfg = load_config(p, base_dir=tmp_path)
    assert cfg.input.paths == [str(tmp_path.resolve() / "raw/*.jsonl")]
    assert cfg.output.dir == str(tmp_path.resolve() / "o")
    p.write_text("input: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    p.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError):
        load_config(p)  # safe_load refuses arbitrary objects


def test_yaml_alias_bomb_and_duplicate_keys_are_refused(tmp_path):
    """Issue 26 items 9 and 16: a few hundred bytes of nested aliases would expand to
    gigabytes inside langid.languages; a repeated key would silently let the last one win."""
    bomb = ['a: &a ["en","en","en","en","en","en","en","en","en"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        bomb.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    p = tmp_path / "bomb.yaml"
    p.write_text(
        "\n".join(bomb)
        + "\ninput: {paths: [x.jsonl]}\ntokenizer: {path: t.json}\noutput: {dir: o}\n"
        + "filters: [{langid: {languages: *i}}]\n"
    )
    assert p.stat().st_size < 600
    with pytest.raises(ConfigError, match="aliases"):
        load_config(p)
    p.write_text("input: {paths: [x.jsonl]}\ntokenizer: {path: t.json}\noutput: {dir: o}\n"
                 "output: {dir: elsewhere}\n")  # fmt: skip
    with pytest.raises(ConfigError, match="duplicate key 'output'"):
        load_config(p)


@pytest.mark.parametrize(
    "filters,key",
    [
        ([{"toxicity": {"threshold": "high"}}], "filters[0].toxicity.threshold"),
        ([{"langid": {"languages": "en"}}], "filters[0].langid.languages"),
        ([{"toxicity": {"threshold": 1.5}}], "filters[0].toxicity.threshold"),
        ([{"gopher_quality": {"min_words": 1e30}}], "filters[0].gopher_quality.min_words"),
        ([{"c4": {"min_sentences": -3}}], "filters[0].c4.min_sentences"),
        ([{"pii": {"types": "email"}}], "filters[0].pii.types"),
    ],
)
def test_filter_parameters_are_typed_and_ranged(filters, key):
    """Item 12: these removed or quarantined every document with exit 0."""
    assert key in _error(_with(filters=filters))


@pytest.mark.parametrize(
    "part,value,key",
    [
        ("output", {"dir": "o", "rows_per_batch": 1e20}, "output.rows_per_batch"),
        ("input", {"paths": ["x"], "max_doc_bytes": 1e30}, "input.max_doc_bytes"),
        ("dedup", {"near": {"seed": -1}}, "dedup.near.seed"),
        ("tokenizer", {"train": {"vocab_size": 1e12}}, "tokenizer.train.vocab_size"),
        ("output", {"dir": ""}, "output.dir"),
    ],
)
def test_numbers_that_crashed_later_are_refused_now(part, value, key):
    assert key in _error(_with(**{part: value}))


def test_a_valid_filter_chain_keeps_its_values():
    cfg = parse_config(_with(filters=[{"langid": {"languages": ["en", "de"], "min_score": 1}}]))
    assert cfg.filters == [{"langid": {"languages": ["en", "de"], "min_score": 1}}]
