"""The ``curate`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from curate.cli_types import at_least, char_ngrams, fraction, positive


def _summary(stats: dict) -> str:
    lines = [
        f"input records  {stats['input_records']:>10,}",
        f"kept           {stats['kept']['documents']:>10,}  ({stats['kept']['tokens']:,} tokens)",
        f"removed        {stats['removed']['total']:>10,}",
        f"duplicates     {stats['duplicates']['total']:>10,}",
        f"quarantined    {stats['quarantined']['total']:>10,}",
        f"balanced       {stats['balance']['balanced']!s:>10}",
    ]
    for split, sp in stats["splits"].items():
        lines.append(
            f"  {split:<12} {sp['documents']:>8,} docs {sp['tokens']:>12,} tokens"
            f"  {len(sp['periods'])} periods"
        )
    return "\n".join(lines)


def cmd_build(args: argparse.Namespace) -> int:
    from curate.core.console import beam_output_to_file
    from curate.driver.build import run_build
    from curate.driver.config_file import load_config

    cfg = load_config(args.config)
    if args.output:
        cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"dir": args.output})})
    if args.input:
        cfg = cfg.model_copy(update={"input": cfg.input.model_copy(update={"paths": args.input})})
    if args.status:
        from curate.driver.status import build_status

        for line in build_status(cfg, append=args.append):
            print(line)
        return 0
    if args.verbose:  # Beam's own lines as they come, no live display in between
        stats = run_build(
            cfg, args.beam_args or None, args.overwrite, append=args.append, restart=args.restart
        )
    else:
        with beam_output_to_file() as (log, console):

            def stuck(message: str) -> None:  # a dead worker and a runner that waits for it
                print(f"curate: Beam's log of this build: {log}", file=console)
                print(f"curate: error: {message}", file=console, flush=True)
                os._exit(2)

            try:
                stats = run_build(
                    cfg,
                    args.beam_args or None,
                    args.overwrite,
                    progress=console,
                    on_stuck=stuck,
                    append=args.append,
                    restart=args.restart,
                )
            except BaseException:
                if os.path.getsize(log):  # the pipeline ran: its log may say more
                    print(f"curate: Beam's log of this build: {log}", file=console)
                else:
                    os.remove(log)
                raise
        os.remove(log)
    print(_summary(stats))
    print(f"{'increment appended' if args.append else 'corpus written'} to {cfg.output.dir}")
    return 0 if stats["balance"]["balanced"] else 3


def cmd_demo_data(args: argparse.Namespace) -> int:
    from curate.core.errors import ConfigError
    from curate.demo.text import generate

    if args.interleaved and not args.pairs:
        raise ConfigError("interleaved documents reuse the pairs' images: --pairs 1 or more")

    gt = generate(args.dir, n_docs=args.docs, seed=args.seed, by_year=args.by_year)
    print(
        f"demo corpus: {gt['documents']:,} documents + {gt['broken_total']} broken records "
        f"in {args.dir}/raw; ground truth in {args.dir}/ground_truth.json"
    )
    if args.web:
        from curate.demo.web import generate_web

        web = f"{args.dir}/web"
        w = generate_web(web, args.web, seed=args.seed)
        print(
            f"web crawl demo: {len(w['pages']):,} pages in {len(w['crawls'])} crawls, "
            f"{web}/warc/*.warc.gz; ground truth in {web}/ground_truth.json"
        )
    if args.pairs or args.interleaved:
        from curate.demo.images import generate_multimodal

        mm = f"{args.dir}/multimodal"
        g = generate_multimodal(mm, args.pairs, args.interleaved, seed=args.seed)
        print(
            f"multimodal demo: {g['pairs']['pair_records']:,} image-text pairs in {mm}/pairs, "
            f"{len(g['interleaved']['documents']):,} interleaved documents in {mm}/interleaved; "
            f"ground truth in {mm}/ground_truth.json"
        )
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    from curate.drift.report import write_report
    from curate.format.manifest import CorpusError

    try:
        report = write_report(args.corpus, args.out, args.sample, args.seed)
    except (ValueError, CorpusError) as e:
        print(f"curate: error: {e}", file=sys.stderr)
        return 2
    print(
        f"drift report: {len(report['periods'])} periods, {len(report['plots'])} plots in "
        f"{args.out}/index.html; figures in {args.out}/drift.json"
    )
    if report["datacard"] is None:
        print(f"the corpus is read-only: its data card section is in {args.out}/DATACARD-drift.md")
    return 0


def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    from curate.driver.config_file import load_config
    from curate.driver.input_files import expand_inputs
    from curate.stages.screen import sample_texts
    from tokenization.bpe import train_bpe

    cfg = load_config(args.config)
    texts = sample_texts(cfg, [f.path for f in expand_inputs(cfg.input.paths)], args.sample_docs)
    tok = train_bpe(texts, args.vocab_size, cfg.tokenizer.eos_token)
    Path(args.out).write_text(tok.to_str())
    print(
        f"trained byte-level BPE: {tok.get_vocab_size():,} tokens "
        f"on {len(texts):,} documents -> {args.out}"
    )
    return 0


def cmd_train_classifier(args) -> int:
    from curate.core.classifier import labeled_examples, train_classifier

    try:
        examples = list(
            labeled_examples(
                args.labeled,
                args.positive,
                args.negative,
                label_field=args.label_field,
                positive_value=args.positive_value,
                chunk_words=args.chunk_words,
                exclude_id_prefix=args.exclude_id_prefix,
            )
        )
        m = train_classifier(
            examples,
            args.out,
            held_out=args.held_out,
            epoch=args.epoch,
            lr=args.lr,
            lexicon=args.lexicon,
            char_ngrams=args.char_ngrams,
        )
    except ValueError as e:  # unusable labeled data (UnicodeDecodeError is one), said plainly
        print(f"curate: error: {e}", file=sys.stderr)
        return 2
    print(
        f"trained on {m.train:,} examples; threshold {m.threshold:.4f} chosen on {m.validation:,}; "
        f"on {m.test:,} held-out ({m.positives_test:,} positive): precision {m.precision:.4f} "
        f"recall {m.recall:.4f} F1 {m.f1:.4f} -> {args.out}.bin, .ftz, .json"
    )
    return 0


def cmd_decontam_index(args: argparse.Namespace) -> int:
    """Build the benchmark index once and save it, for ``decontamination: {index: PATH}``."""
    from curate.core.errors import ConfigError
    from curate.decontam.config import DecontaminationConfig
    from curate.decontam.items import build_index
    from curate.decontam.stage import check_sources, sources
    from curate.driver.config_file import load_config

    if bool(args.config) == bool(args.files):
        raise ConfigError("give evaluation files or --config (its decontamination section)")
    if args.config:
        cfg = load_config(args.config).decontamination
        if cfg is None or cfg.index is not None:
            raise ConfigError(f"{args.config}: needs a decontamination section with benchmarks")
    else:
        from pydantic import ValidationError

        marks = [{"path": str(Path(f).resolve()), "text": args.text} for f in args.files]
        try:
            cfg = DecontaminationConfig(
                benchmarks=marks,
                ngram=args.ngram,
                min_item_words=args.min_item_words,
                max_items_per_ngram=args.max_items_per_ngram,
            )
        except ValidationError as e:
            err = e.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else ""
            option = {"benchmarks": "a file", "": "the arguments"}.get(
                field, "--" + field.replace("_", "-")
            )
            raise ConfigError(f"decontam-index: {option}: {err['msg']}") from None
        check_sources(cfg)
    index = build_index(sources(cfg), cfg.ngram, cfg.min_item_words, cfg.max_items_per_ngram)
    info = index.save(args.out)
    s = index.summary()
    print(
        f"{s['items']:,} items of {len(s['benchmarks'])} benchmarks, {s['ngrams']:,} "
        f"{s['ngram']}-grams ({s['boilerplate_ngrams']:,} template n-grams left out), "
        f"{info['bytes'] / 1e6:.1f} MB -> {args.out}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from curate.format.verify import verify_corpus

    problems = verify_corpus(args.dir)
    for line in problems:
        print(line)
    if not problems:
        print(f"{args.dir}: OK")
    return 1 if problems else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from curate.format.compare import compare, documents

    lines = compare(args.a, args.b)
    for line in lines[:50]:
        print(line)
    if len(lines) > 50:
        print(f"... and {len(lines) - 50} more")
    if not lines:
        n = len(documents(args.a))
        print(f"{args.a} and {args.b}: the same {n:,} documents (splits, periods, tokens)")
    return 1 if lines else 0


def _exit_if_threads_linger(code: int) -> None:
    """A failed pipeline can leave the runner's threads (gRPC servers, a thread waiting on a
    dead worker) running, and Python would wait for them at exit: the message is out, exit."""
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    beam_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, beam_args = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(
        prog="curate",
        description="Turn raw documents and web crawls into tokenized, deduplicated, "
        "temporally split Arrow corpora (README.md; reference pages in docs/).",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build a corpus; Beam options follow a '--'")
    b.add_argument("config")
    b.add_argument("--output", help="override output.dir")
    b.add_argument("--input", action="append", help="override input.paths (repeatable)")
    mode = b.add_mutually_exclusive_group()
    mode.add_argument("--overwrite", action="store_true", help="replace a finished corpus")
    mode.add_argument(
        "--append", action="store_true", help="add the inputs the corpus has not read yet"
    )
    b.add_argument(
        "--restart",
        action="store_true",
        help="discard the work a killed build saved (by default the same command resumes it)",
    )
    b.add_argument(
        "--status", action="store_true", help="show the saved work, done and pending; run nothing"
    )
    b.set_defaults(fn=cmd_build)
    d = sub.add_parser("demo-data", help="generate the seeded demo corpus")
    d.add_argument("dir")
    d.add_argument("--docs", type=at_least(2), default=6000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--pairs", type=at_least(0), default=400, help="image-text pairs (0: none)")
    d.add_argument(
        "--interleaved", type=at_least(0), default=120, help="interleaved documents (need pairs)"
    )
    d.add_argument(
        "--web", type=at_least(0), default=40, help="web pages per crawl in WARC (0: none)"
    )
    d.add_argument("--by-year", action="store_true", help="also one JSONL file per year")
    d.set_defaults(fn=cmd_demo_data)
    r = sub.add_parser("drift", help="drift report of a built corpus (drift.json, index.html)")
    r.add_argument("corpus")
    r.add_argument("--out", required=True, help="report directory")
    r.add_argument(
        "--sample", type=at_least(1), default=2000, help="documents per period (at most)"
    )
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(fn=cmd_drift)
    t = sub.add_parser("train-tokenizer", help="train a byte-level BPE on a config's inputs")
    t.add_argument("config")
    t.add_argument("--out", required=True)
    t.add_argument("--vocab-size", type=at_least(300, 2**24), default=32000)
    t.add_argument("--sample-docs", type=at_least(1), default=10000)
    t.set_defaults(fn=cmd_train_tokenizer)
    c = sub.add_parser(
        "train-classifier", help="train a fastText classifier (quality, toxicity) on JSONL"
    )
    c.add_argument("--out", required=True, help="output prefix: PREFIX.bin, .ftz and .json")
    c.add_argument("--labeled", action="append", default=[], help="JSONL with text and a label")
    c.add_argument("--positive", action="append", default=[], help="JSONL of positive texts")
    c.add_argument("--negative", action="append", default=[], help="JSONL of negative texts")
    c.add_argument("--label-field", default="label")
    c.add_argument("--positive-value", default="1", help="label value that means positive")
    c.add_argument("--chunk-words", type=at_least(0), default=0, help="cut long texts into chunks")
    c.add_argument("--exclude-id-prefix", action="append", default=[])
    c.add_argument("--held-out", type=fraction, default=0.2)
    c.add_argument("--epoch", type=at_least(1), default=10)
    c.add_argument("--lr", type=positive, default=0.2)
    c.add_argument(
        "--lexicon", action="store_true", help="add the profanity word-list feature (toxicity)"
    )
    c.add_argument(
        "--char-ngrams", type=char_ngrams, default=(0, 0), metavar="MIN,MAX",
        help="character n-gram lengths (fastText minn,maxn; default none)",
    )  # fmt: skip
    c.set_defaults(fn=cmd_train_classifier)
    x = sub.add_parser("decontam-index", help="build and save a benchmark decontamination index")
    x.add_argument("files", nargs="*", help="evaluation files (JSONL or Parquet)")
    x.add_argument("--config", help="a build config: its decontamination.benchmarks instead")
    x.add_argument("--out", required=True, help="index file (.npz)")
    x.add_argument("--text", default="text", help="text field, or a template of fields")
    x.add_argument("--ngram", type=int, default=13)
    x.add_argument("--min-item-words", type=int, default=8)
    x.add_argument("--max-items-per-ngram", type=int, default=10)
    x.set_defaults(fn=cmd_decontam_index)
    v = sub.add_parser("verify", help="check a built corpus against its manifest and stats")
    v.add_argument("dir")
    v.set_defaults(fn=cmd_verify)
    c = sub.add_parser(
        "compare", help="whether two corpora hold the same documents (splits, periods, tokens)"
    )
    c.add_argument("a")
    c.add_argument("b")
    c.set_defaults(fn=cmd_compare)
    args = p.parse_args(argv)
    args.beam_args = beam_args
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    # Beam warns on import that optional GCP client libraries are absent; they are not needed.
    logging.getLogger().addFilter(lambda r: "apitools not found" not in r.getMessage())
    if not args.verbose:  # Beam's INFO and WARNING lines, and each retry's ERROR, only with -v
        logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    from curate.core.errors import ConfigError
    from curate.driver.build import BUILD_ERRORS

    try:
        return args.fn(args)
    except (ConfigError, *BUILD_ERRORS) as e:
        if args.verbose:
            traceback.print_exc()
        print(f"curate: error: {e}", file=sys.stderr)
        _exit_if_threads_linger(2)
        return 2
    except OSError as e:  # disk full, permission denied, a missing file: say which
        if args.verbose:
            traceback.print_exc()
        where = f" ({e.filename})" if e.filename else ""
        print(f"curate: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
