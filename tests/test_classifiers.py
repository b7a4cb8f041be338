"""fastText classifiers trained here: the training command, the quality and toxicity filters,
and the toxicity model that ships in the package."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from curate.cli import main
from curate.core.classifier import (
    best_threshold,
    fasttext_lines,
    fasttext_text,
    labeled_examples,
    train_classifier,
)
from curate.core.document import Document
from curate.demo.writer import TOXIC_LINES
from filters.quality_classifier import QualityClassifier
from filters.toxicity import DEFAULT_MODEL, Toxicity
from tests.conftest import evaldata


def doc(text: str) -> Document:
    return Document(id="x", text=text, timestamp=0)


@pytest.fixture(scope="module")
def prose_docs() -> list[str]:
    path = evaldata("prose/prose.jsonl")
    return [json.loads(line)["text"] for line in path.open() if "wikitext" not in line[:40]]


def test_fasttext_text_drops_exactly_the_tokens_without_a_letter_or_digit():
    """One regex over the text must equal the rule token by token (the shipped model was
    trained with it), on random mixes of scripts, digits, markup, underscores and spaces."""
    import random
    import re

    def reference(text: str) -> str:
        return " ".join(t for t in text.lower().split() if not re.fullmatch(r"[\W_]+", t))

    rng = random.Random(0)
    alphabet = "aZ9_=|-.,!?\"'()[]{}#*…—«»éßΣяア漢٣\u00a0\u2003\u3000 \t\n\r\x0b\x0c\x1c"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert fasttext_text(text) == reference(text), repr(text)
        # toxicity prepares a whole document at once; it must equal line by line
        lines = [reference(ln) for ln in text.split("\n")]
        assert fasttext_lines(text) == lines, repr(text)
    line = "= = Early life = = \n | RT @user : you are ___ ( great ) !!"
    assert fasttext_text(line) == "early life rt @user you are great"


def test_best_threshold_maximizes_f1():
    scores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.2]
    labels = [True, True, False, True, False, False]
    threshold, precision, recall, f1 = best_threshold(scores, labels)
    assert threshold == 0.4 and precision == 0.75 and recall == 1.0
    assert f1 == pytest.approx(2 * 0.75 / 1.75)


def test_training_is_measured_and_reproducible(tmp_path):
    examples = list(labeled_examples([str(evaldata("toxicity/davidson.jsonl"))], [], []))[:8000]
    m = train_classifier(examples, str(tmp_path / "a"))
    assert m.train + m.validation + m.test == len(examples)
    assert m.precision > 0.9 and m.recall > 0.85  # real held-out tweets
    train_classifier(examples, str(tmp_path / "b"))
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(tmp_path / "a.ftz") == digest(tmp_path / "b.ftz")
    assert json.loads((tmp_path / "a.json").read_text())["f1"] == pytest.approx(m.f1)


def test_quality_model_from_the_command_line(prose_docs, tmp_path):
    import random

    from curate.demo.writer import _Writer

    w = _Writer(random.Random(0))
    salad = tmp_path / "low.jsonl"
    rows = []
    for i in range(1500):  # low-quality pages: templated text and keyword lists
        words = w.sentence(["budget", "council", "stadium", "league"], 2020.0).split()
        rows.append({"text": " ".join(random.Random(i).sample(words * 3, len(words) * 2))})
    salad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"text": t}) + "\n" for t in prose_docs))
    out = tmp_path / "quality"
    args = ["train-classifier", "--out", str(out), "--positive", str(good), "--negative"]
    assert main([*args, str(salad), "--chunk-words", "40"]) == 0
    assert out.with_suffix(".bin").exists() and out.with_suffix(".ftz").exists()
    f = QualityClassifier(model=str(out.with_suffix(".ftz")))
    assert f.threshold == json.loads(out.with_suffix(".json").read_text())["threshold"]
    prose_scores = [f.apply(doc(t)).signals["score"] for t in prose_docs[-50:]]
    salad_scores = [f.apply(doc(r["text"])).signals["score"] for r in rows[-50:]]
    assert min(prose_scores) > max(salad_scores)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "fine", "label": 1}\nnot json\n', r"bad.jsonl, line 2: not JSON"),
        ('{"text": "no label"}\n', r"line 1: no 'label' field"),
        ('{"text": 5, "label": 1}\n', r"line 1: expected an object with a string 'text'"),
        (b"\xff\xfe\n", r"bad.jsonl: not UTF-8"),
        ('{"text": "only one class here", "label": 1}\n' * 50, r"50 examples \(50 positive\)"),
    ],
)
def test_unusable_labeled_data_is_refused_with_the_file_and_line(tmp_path, capsys, content,
                                                                 message):  # fmt: skip
    """Found by probing: train-classifier answered these with a traceback."""
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    rc = main(["train-classifier", "--out", str(tmp_path / "m"), "--labeled", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("curate: error: ") and re.search(message, err), err


def test_shipped_toxicity_model_catches_abuse_not_prose(prose_docs):
    with open(DEFAULT_MODEL.replace(".ftz", ".json")) as f:
        meta = json.load(f)
    assert meta["f1"] > 0.7 and meta["test"] > 10_000  # held-out rows of nine sets: make models
    f = Toxicity()
    clean = prose_docs[:300]
    flagged = [t for t in clean if not f.apply(doc(t)).keep]
    assert len(flagged) <= 3, flagged[:1]
    article = "The council met on Monday.\nThe budget passed after a long debate."
    for line in TOXIC_LINES:
        d = f.apply(doc(f"{article}\n{line}"))
        assert not d.keep and d.reason == "toxic" and d.signals["toxic_lines"] == 1
        kept = Toxicity(mode="lines").apply(doc(f"{article}\n{line}"))
        assert kept.keep and kept.text == article
        assert kept.signals["chars_removed"] == len(line) + 1


def test_toxicity_page_rule_two_lines_or_a_quarter_of_the_text():
    """One abusive line in a long page is kept and tagged; two, or a quarter of the text,
    remove it; ``min_lines: 1`` removes on any line."""
    report = "of the council report: the budget passed after a long debate."
    page = [f"Paragraph {i} {report}" for i in range(12)]
    one = "\n".join(page[:6] + [TOXIC_LINES[0]] + page[6:])
    two = "\n".join(page[:3] + [TOXIC_LINES[0]] + page[3:9] + [TOXIC_LINES[1]] + page[9:])
    d = Toxicity().apply(doc(one))
    assert d.keep and d.signals["toxic_lines"] == 1
    assert d.signals["toxic_share"] == pytest.approx(
        len(TOXIC_LINES[0]) / len(one.replace("\n", ""))
    )
    removed = Toxicity().apply(doc(two))
    assert not removed.keep and removed.reason == "toxic" and removed.signals["toxic_lines"] == 2
    assert not Toxicity(min_lines=1).apply(doc(one)).keep
    short = "\n".join(page[:1] + [TOXIC_LINES[2]])  # a short page: the line is 30% of it
    assert not Toxicity().apply(doc(short)).keep
    assert Toxicity(min_lines=0, min_share=0.5).apply(doc(short)).keep


def test_a_model_with_other_labels_is_refused_or_read_by_its_label(prose_docs, tmp_path):
    """Found by probing: a fastText model whose labels are not pos/neg (DCLM's says hq/cc)
    scored 0 on every document, so the quality filter removed the whole corpus, and a toxicity
    model labeled "toxic" never removed anything."""
    import subprocess
    import sys

    lines = [f"__label__hq {' '.join(fasttext_text(t).split()[:80])}" for t in prose_docs[:200]]
    lines += [f"__label__cc buy cheap {w} now click here best {w} deals" for w in range(200)]
    lines += [f"__label__spam win {w} free prize casino bonus" for w in range(50)]
    train = tmp_path / "train.txt"
    train.write_text("\n".join(lines) + "\n")
    path = str(tmp_path / "dclm_like.bin")
    # in a fresh process: after an in-process Beam run (earlier tests), fastText's training
    # can hit "Encountered NaN" on its first call (reproduced outside curate; the CLI trains
    # in its own process)
    train_it = (
        "import fasttext, sys; fasttext.train_supervised(sys.argv[1], epoch=10, lr=0.2, dim=50,"
        " wordNgrams=2, minCount=2, seed=0, thread=1, verbose=0).save_model(sys.argv[2])"
    )
    subprocess.run([sys.executable, "-c", train_it, str(train), path], check=True)
    with pytest.raises(ValueError, match=r"labels \[.*'hq'.*\], not 'pos'"):
        QualityClassifier(model=path)
    with pytest.raises(ValueError, match="not 'pos'"):
        Toxicity(model=path)
    f = QualityClassifier(model=path, label="hq", threshold=0.5)
    assert f.apply(doc(prose_docs[-1])).signals["score"] > 0.5
    assert f.apply(doc("buy cheap 7 now click here best 7 deals")).signals["score"] < 0.5
    spam = Toxicity(model=path, label="spam").apply(doc("win 3 free prize casino bonus"))
    assert spam.signals["max_line_score"] > 0.5  # a third label is scored too


def test_pages_in_languages_the_model_never_saw_are_not_scored():
    """Found by probing: the English-trained model misfires on clean German (a news sentence
    at 0.99), and on the shared langid set it removed 12 of 20 German pages of 60 lines. Pages
    in another language are now kept unscored; English abuse is still caught."""
    from curate.core.classifier import load_classifier, positive_scores

    rows = [json.loads(line) for line in evaldata("langid/langid.jsonl").open()]
    german = [r["text"] for r in rows if r["lang"] == "de"]
    model, _ = load_classifier(DEFAULT_MODEL)
    scores = positive_scores(model, [fasttext_text(t) for t in german])
    worst = max(range(len(german)), key=scores.__getitem__)
    assert scores[worst] >= 0.5  # the misfire the rule guards against
    page = doc("\n".join([german[worst], *german[worst + 1 : worst + 3]]))
    assert not Toxicity(languages=None).apply(page).keep  # scored, it is removed
    d = Toxicity().apply(page)
    assert d.keep and d.signals == {}  # not scored: signals stay null
    abuse = doc("The council met on Monday.\n" + "\n".join(TOXIC_LINES[:2]))
    assert not Toxicity().apply(abuse).keep
    with pytest.raises(ValueError, match="not among lid.176"):
        Toxicity(languages=["english"])
