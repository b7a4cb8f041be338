"""The profanity word-list feature of the toxicity model (curate/core/lexicon.py): what counts
as a hit, and that a model trained with it scores profanity its training data never spelled."""

from __future__ import annotations

import pytest

from curate.cli import main
from curate.core.classifier import (
    labeled_examples,
    load_classifier,
    positive_scores,
    prepared_lines,
    prepared_text,
    train_classifier,
    uses_lexicon,
)
from curate.core.lexicon import FEATURE, MAX_HITS, hits_per_line, with_feature
from filters.toxicity import DEFAULT_MODEL
from tests.conftest import evaldata


@pytest.mark.parametrize(
    "text, hits",
    [
        ("what the fuck", {0: 1}),
        ("What the FUCK!", {0: 1}),  # case and trailing punctuation
        ("the kkk, xxx", {0: 2}),  # listed with their repeated letters
        ("sex, meth and hell", {}),  # naming a subject is not profanity (lexicon.NAMING)
        ('"Bastard," he said.', {0: 1}),
        ("sh1t happens, a$$hole", {0: 2}),  # leetspeak
        ("sh!t!!", {0: 1}),
        ("f*ck off, f**k", {0: 2}),  # a star stands for one letter of a listed word
        ("fuuuuck", {0: 1}),  # a letter run cut to one
        ("shit/crap", {0: 2}),  # words joined by punctuation
        ("fine\n\nyou bitch\nok", {2: 1}),  # lines numbered as text.split("\n")
        ("a classic title for the document", {}),  # parts of words are no hits
        ("455 or 5h17 in 1337", {0: 1}),  # a number is no word; 5h17 is one
        ("**** ***", {}),
        ("", {}),
    ],
)
def test_hits(text, hits):
    assert hits_per_line(text.lower().split("\n")) == hits


def test_the_feature_is_one_token_per_hit_capped_per_line():
    text = "shit shit shit shit shit\nclean line\n= =\nfuck"
    prepared = prepared_lines(text, lexicon=True)
    assert prepared[0].split().count(FEATURE) == MAX_HITS
    assert FEATURE not in prepared[1] and prepared[2] == ""  # markup only: stays empty
    assert prepared[3] == f"fuck {FEATURE}"
    assert prepared_lines(text) == ["shit shit shit shit shit", "clean line", "", "fuck"]
    assert with_feature(["clean"]) == ["clean"]
    assert prepared_text(text, lexicon=True).split().count(FEATURE) == MAX_HITS


# listed words that Davidson's tweets never spell: a model trained on them alone has no weight
# for these words, only for the feature
UNSEEN = ["cockmuncher", "cuntlicker", "assfucker", "fannyflaps", "twunter"]


def test_a_model_with_the_feature_scores_profanity_its_data_never_spelled(tmp_path):
    rows = list(labeled_examples([str(evaldata("toxicity/davidson.jsonl"))], [], []))[:8000]
    text = " ".join(t for t, _ in rows).lower()
    assert not any(w in text for w in UNSEEN)
    train_classifier(rows, str(tmp_path / "plain"))
    train_classifier(rows, str(tmp_path / "lex"), lexicon=True)
    plain, _ = load_classifier(str(tmp_path / "plain.ftz"))
    lex, _ = load_classifier(str(tmp_path / "lex.ftz"))
    assert uses_lexicon(lex) and not uses_lexicon(plain)
    lines = [f"you are a {w}" for w in UNSEEN]
    control = "you are a zqxjkvw"  # a word neither model knows

    def scores(model, flag):
        return positive_scores(model, [prepared_text(t, flag) for t in [*lines, control]])

    *words, neutral = scores(plain, False)
    assert words == pytest.approx([neutral] * len(words))  # unknown words: no evidence
    *words, neutral = scores(lex, True)
    assert min(words) > neutral + 0.2, (words, neutral)


def test_the_shipped_model_uses_the_feature():
    assert uses_lexicon(load_classifier(DEFAULT_MODEL)[0])


@pytest.mark.parametrize("value", ["4", "5,3", "0,2", "a,b", "1,11"])
def test_char_ngrams_must_be_a_range(value, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train-classifier", "--out", str(tmp_path / "m"), "--char-ngrams", value])
    assert "--char-ngrams" in capsys.readouterr().err
