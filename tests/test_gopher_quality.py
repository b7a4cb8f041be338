import json

from curate.core.document import Document
from curate.core.words import split_words
from filters.gopher_quality import GopherQuality
from tests.conftest import evaldata


def _doc(text: str) -> Document:
    return Document(id="d", text=text, timestamp=0)


def test_word_split_handles_unspaced_scripts():
    assert split_words("hello world") == ["hello", "world"]
    assert split_words("市政府今天公布") == list("市政府今天公布")
    assert split_words("Der Bürgermeister sprach") == ["Der", "Bürgermeister", "sprach"]
    assert split_words("ภาษาไทย ok") == ["ภ", "า", "ษ", "า", "ไ", "ท", "ย", "ok"]


def test_real_prose_is_kept():
    f = GopherQuality()
    rows = [json.loads(line) for line in evaldata("prose/prose.jsonl").open()][:400]
    kept = [f.apply(_doc(r["text"])).keep for r in rows]
    assert sum(kept) / len(kept) > 0.95


def test_each_rule_fires_with_its_reason():
    f = GopherQuality()
    sentence = "The committee and the residents talked with the mayor about the new budget. "
    good = sentence * 10
    assert f.apply(_doc(good)).keep
    cases = {
        "too_few_words": "The cat sat on the mat with the dog.",
        "mean_word_length": "a b c d e of the and " * 20,
        "symbol_word_ratio": good + " #tag" * 30,
        "bullet_lines": "\n".join(
            f"- the committee meeting {i} and discussion of that budget" for i in range(60)
        ),
        "ellipsis_lines": "\n".join(
            f"the committee meeting {i} and discussion of that budget"
            + ("..." if i % 3 == 0 else ".")
            for i in range(60)
        ),
        "alpha_words_ratio": good + " 123 456" * 100,
        "too_few_stop_words": "council budget library park mayor residents zoning bridge " * 10,
    }
    for reason, text in cases.items():
        d = f.apply(_doc(text))
        assert (d.keep, d.reason) == (False, reason), reason
        assert set(d.signals) == set(GopherQuality.signals)


def test_signals_are_reported_for_kept_documents():
    d = GopherQuality().apply(_doc("the quick brown fox and the lazy dog " * 10))
    assert d.keep and d.signals["n_words"] == 80.0 and d.signals["stop_words"] == 30.0


def test_cjk_text_is_not_one_giant_word_and_its_characters_are_no_short_words():
    """Found by probing: every Chinese and Japanese document was removed for its mean word
    length, a character counting as a word of length 1 (the rule's 3 to 10 is for words)."""
    chinese = "市政府今天公布了新的预算，议员们讨论了道路和公园的开支。" * 5
    japanese = (
        "市役所は今日、新しい予算を発表し、議員たちは道路と公園の支出について話し合った。" * 5
    )
    for text in (chinese, japanese):
        d = GopherQuality(min_stop_words=0).apply(_doc(text))
        assert d.signals["n_words"] >= len(text) * 0.9  # a character is a word for the counts
        assert d.keep, d.reason
    assert GopherQuality(min_stop_words=0).apply(_doc(chinese[:30])).reason == "too_few_words"
    # English with a few Chinese names: the rule still holds, over the English words
    mixed = "a b c d e f g h 北京 上海 " * 10
    assert GopherQuality(min_stop_words=0).apply(_doc(mixed)).reason == "mean_word_length"
