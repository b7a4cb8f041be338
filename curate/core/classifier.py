"""Train, evaluate and save fastText document classifiers (quality, toxicity).

Labeled examples are split into train, validation and test sets by a stable hash of their text
(so the split does not depend on file order and duplicates never straddle it). The threshold on
the positive class's probability is chosen on the validation set to maximize F1; precision,
recall and F1 at that threshold are then measured on the test set, with the quantized model
that ships, and saved beside it, so that a filter using the model starts from a measured
operating point. Training uses one thread and a fixed seed: the same data give the same model.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cache

from curate.core.lexicon import FEATURE, with_feature

_MARKUP_TOKEN = re.compile(r"(?<!\S)(?:[^\w\s]|_)+(?!\S)")  # a token with no letter or digit
POSITIVE = "__label__pos"
NEGATIVE = "__label__neg"


def fasttext_text(text: str) -> str:
    """fastText reads one example per line: lowercase, whitespace (newlines too) collapsed, and
    tokens without a letter or digit dropped (markup such as "= =" or "|" is not language, and
    a model should not learn where a data set happened to use it)."""
    return " ".join(_MARKUP_TOKEN.sub(" ", text.lower()).split())


def prepared_text(text: str, lexicon: bool = False) -> str:
    """``fasttext_text``, with the profanity feature tokens of ``curate.core.lexicon``
    appended when the model is trained or scored ``lexicon``."""
    line = fasttext_text(text)
    return with_feature([line])[0] if lexicon else line


def prepared_lines(text: str, lexicon: bool = False) -> list[str]:
    """``fasttext_lines``, with the profanity feature per line when ``lexicon``."""
    lines = fasttext_lines(text)
    return with_feature(lines) if lexicon else lines


def fasttext_lines(text: str) -> list[str]:
    """``fasttext_text`` of every line of ``text``, in one pass over the whole text (the markup
    pattern never matches a newline, so this equals the line-by-line result, tested)."""
    return [" ".join(ln.split()) for ln in _MARKUP_TOKEN.sub(" ", text.lower()).split("\n")]


def labeled_examples(
    labeled: list[str],
    positive: list[str],
    negative: list[str],
    label_field: str = "label",
    positive_value: str = "1",
    chunk_words: int = 0,
    exclude_id_prefix: list[str] | tuple[str, ...] = (),
) -> Iterator[tuple[str, bool]]:
    """(text, is_positive) from JSONL files (``.gz`` too): labeled ones, or all-positive /
    all-negative ones.
    ``chunk_words`` cuts long texts into paragraphs and pieces of at most that many words
    (clean prose is much longer than a tweet; a model should not learn length)."""
    sources = [(p, None) for p in labeled] + [(p, True) for p in positive]
    sources += [(p, False) for p in negative]
    for path, fixed in sources:
        try:
            yield from _file_examples(
                path, fixed, label_field, positive_value, chunk_words, exclude_id_prefix
            )
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 ({e})") from None


def _file_examples(
    path: str,
    fixed: bool | None,
    label_field: str,
    positive_value: str,
    chunk_words: int,
    exclude_id_prefix: list[str] | tuple[str, ...],
) -> Iterator[tuple[str, bool]]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            r = _example(line, path, n, None if fixed is not None else label_field)
            if str(r.get("id", "")).startswith(tuple(exclude_id_prefix)):
                continue
            label = fixed if fixed is not None else str(r[label_field]) == positive_value
            if not chunk_words or len(r["text"].split()) <= chunk_words:
                yield r["text"], label
                continue
            for para in r["text"].split("\n\n"):  # short paragraphs (dialogue) stay whole
                words = para.split()
                for i in range(0, len(words), chunk_words):
                    if len(words[i : i + chunk_words]) >= 2:
                        yield " ".join(words[i : i + chunk_words]), label


def _example(line: str, path: str, n: int, label_field: str | None) -> dict:
    """One JSONL line as a labeled example, or a ValueError naming the file and line: a user's
    labeled data is input like any other."""
    try:
        r = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}, line {n}: not JSON ({e})") from None
    if not isinstance(r, dict) or not isinstance(r.get("text"), str):
        raise ValueError(f"{path}, line {n}: expected an object with a string 'text'")
    if label_field is not None and label_field not in r:
        raise ValueError(f"{path}, line {n}: no {label_field!r} field (--label-field)")
    return r


@dataclass
class Metrics:
    train: int
    validation: int
    test: int
    positives_test: int
    threshold: float
    precision: float
    recall: float
    f1: float
    accuracy: float


def _split(text: str, held_out: float) -> int:
    """0 train, 1 validation, 2 test; validation and test are half of ``held_out`` each."""
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64
    return 0 if h >= held_out else 1 if h < held_out / 2 else 2


def best_threshold(scores: list[float], labels: list[bool]) -> tuple[float, float, float, float]:
    """(threshold, precision, recall, F1) maximizing F1 over the observed scores."""
    pairs = sorted(zip(scores, labels, strict=True), reverse=True)
    total_pos = sum(labels)
    best = (1.0, 1.0, 0.0, 0.0)
    tp = fp = 0
    for i, (score, label) in enumerate(pairs):
        tp += label
        fp += not label
        if i + 1 < len(pairs) and pairs[i + 1][0] == score:
            continue  # a threshold sits between distinct scores
        precision = tp / (tp + fp)
        recall = tp / total_pos if total_pos else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 > best[3]:
            best = (score, precision, recall, f1)
    return best


def train_classifier(
    examples: Iterable[tuple[str, bool]],
    out_prefix: str,
    held_out: float = 0.2,
    epoch: int = 10,
    lr: float = 0.2,
    word_ngrams: int = 2,
    dim: int = 50,
    lexicon: bool = False,
    char_ngrams: tuple[int, int] = (0, 0),
) -> Metrics:
    """Train on the examples, write ``<out_prefix>.bin``, ``.ftz`` (quantized) and ``.json``.
    ``lexicon`` adds the profanity word-list feature (the model then carries its token, and
    scorers add it too); ``char_ngrams`` (fastText's minn, maxn) adds character n-grams, which
    carry a model to spellings its data never had, at a cost in speed (0, 0: none)."""
    import fasttext

    sets: tuple[list, list, list] = ([], [], [])
    for text, label in examples:
        key = fasttext_text(text)  # the split does not depend on the features
        if key:
            line = with_feature([key])[0] if lexicon else key
            sets[_split(key, held_out)].append((line, bool(label)))
    train, val, test = sets
    if not val or not test or len({lb for _, lb in train}) < 2:
        pos = sum(lb for s in sets for _, lb in s)
        raise ValueError(
            f"need both labels in the training set and non-empty validation and test sets: "
            f"{sum(map(len, sets)):,} examples ({pos:,} positive) gave train {len(train):,}, "
            f"validation {len(val):,}, test {len(test):,}"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for line, label in train:
            f.write(f"{POSITIVE if label else NEGATIVE} {line}\n")
        path = f.name
    try:
        model = fasttext.train_supervised(
            input=path, epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim, thread=1, seed=0,
            minCount=2, verbose=0, minn=char_ngrams[0], maxn=char_ngrams[1],
        )  # fmt: skip
    finally:
        os.unlink(path)
    os.makedirs(os.path.dirname(out_prefix) or ".", exist_ok=True)
    model.save_model(f"{out_prefix}.bin")
    model.quantize(input=None, retrain=False, cutoff=20000, qnorm=True)
    model.save_model(f"{out_prefix}.ftz")
    val_scores = positive_scores(model, [line for line, _ in val])
    threshold, *_ = best_threshold(val_scores, [label for _, label in val])
    scores = positive_scores(model, [line for line, _ in test])
    labels = [label for _, label in test]
    tp = sum(s >= threshold and lb for s, lb in zip(scores, labels, strict=True))
    fp = sum(s >= threshold and not lb for s, lb in zip(scores, labels, strict=True))
    fn = sum(labels) - tp
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = sum((s >= threshold) == lb for s, lb in zip(scores, labels, strict=True)) / len(test)
    metrics = Metrics(
        len(train), len(val), len(test), sum(labels), threshold, precision, recall, f1, accuracy
    )
    with open(f"{out_prefix}.json", "w") as f:
        json.dump(asdict(metrics), f, indent=1)
    return metrics


def positive_scores(model, lines: list[str], label: str = "pos") -> list[float]:
    """Probability of ``label`` (``__label__<label>``: curate's positive is ``pos``) for each
    prepared line (every label is predicted: a model may have more than two)."""
    positive = f"__label__{label}"
    labels, probs = model.predict(lines, k=-1)
    out = []
    for labs, ps in zip(labels, probs, strict=True):
        d = dict(zip(labs, ps, strict=True))
        out.append(float(d.get(positive, 0.0)))
    return out


def check_label(model, path: str, label: str) -> None:
    """The model must predict ``__label__<label>``: with any other name (DCLM's model says
    ``hq``) every score would be 0, and a quality filter would remove every document."""
    labels = [lb.removeprefix("__label__") for lb in model.get_labels()]
    if label not in labels:
        raise ValueError(
            f"{path} has labels {labels}, not {label!r}: set label to the one that means "
            "a positive (for curate's own models, 'pos')"
        )


@cache
def load_classifier(path: str):
    """A fastText model and its saved operating point (``<prefix>.json``), once per process."""
    import fasttext

    prefix, _ = os.path.splitext(path)
    meta = {}
    if os.path.exists(f"{prefix}.json"):
        with open(f"{prefix}.json") as f:
            meta = json.load(f)
    return fasttext.load_model(path), meta


def uses_lexicon(model) -> bool:
    """Whether a fastText model was trained with the profanity feature: its vocabulary holds
    the feature's token, so a model file says how to prepare its input."""
    return model.get_word_id(FEATURE) >= 0
