"""Patterns rewritten so that a long run of one character (spaces, dots, unclosed tags) costs
linear time, not quadratic (BENCHMARKS.md, "Filters on pathological documents"): on ordinary
text each gives what the plain pattern it replaced gives. Random strings over the characters
that matter, checked against the plain pattern."""

from __future__ import annotations

import random
import re

import pytest

from curate.core import normalize
from curate.web import html
from filters import c4, pii


def _not(pattern: str, flags: int = 0):
    """Ordinary text: nothing matches ``pattern`` (the malformed case the rewrite gives up)."""
    return lambda s: not re.search(pattern, s, flags)


ALWAYS = _not(r"(?!)")
CASES = {  # pattern, the plain pattern it replaced, its flags, an alphabet, what is ordinary
    "trailing spaces": (normalize._TRAILING, r"[ \t]+\n", 0, [" ", "\t", "\n", "a"], ALWAYS),
    "citations": (
        c4._CITATION,
        r"\s*(?:\[\d+\]|\[citation needed\]|\[edit\])",
        re.I,
        [" ", "\n", "a", "[", "]", "1", "[1]", "[edit]", "[Citation needed]"],
        ALWAYS,
    ),
    "sentence ends": (
        c4._SENTENCE_END,
        rf"[{re.escape(c4.SENTENCE_ENDS)}]+[\"”’»)]*(?=\s|$)",
        0,
        [" ", "\n", ".", "!", "?", "。", "။", '"', "”", ")", "a", "x."],
        ALWAYS,
    ),
    "img tags": (  # a "<" before the tag's ">"
        html._IMG,
        r"<img\b[^>]*>",
        re.I,
        ["<img", " src=a", ">", "<p>", "x", " ", "<IMG "],
        _not(r"<img\b[^>]*<", re.I),
    ),
    "titles": (  # a title inside a title, or a "<" in its tag
        html._TITLE,
        r"<title[^>]*>(.*?)</title",
        re.I | re.S,
        ["<title>", "</title>", "<title lang=x>", "a", " ", "<b>", "\n"],
        _not(r"<title[^>]*<|<title[^>]*>(?:(?!</title).)*<title", re.I | re.S),
    ),
    "html lang": (  # a "<" before the tag's ">", or a tag that is not <html> ("<htmlx")
        html._LANG,
        r"<html[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)",
        re.I,
        ["<html", " lang=", "<html lang=", '"', "de", "-AT", ">", " ", "x", "<p>"],
        _not(r"<html[^>]*<|<html\w", re.I),
    ),
    "private keys": (  # a BEGIN inside a key
        pii._SECRETS,
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
        0,
        ["-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "abc", "\n"],
        _not(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:(?!-----END)[\s\S])*-----BEGIN "),
    ),
    "e-mail addresses": (  # all shorter than RFC 5321's bounds
        pii._EMAIL,
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
        0,
        ["a", "b.", "@", ".com", "-", " ", "x_y", ".", "org"],
        ALWAYS,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_pattern_matches_what_the_plain_one_matched(case):
    pattern, plain, flags, alphabet, ordinary = CASES[case]
    reference = re.compile(plain, flags)
    rng = random.Random(0)
    checked = matched = 0
    for _ in range(20_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        if not ordinary(s):
            continue
        checked += 1
        expected = reference.sub("#", s) if case == "trailing spaces" else reference.findall(s)
        got = pattern.sub("#", s) if case == "trailing spaces" else pattern.findall(s)
        assert got == expected, repr(s)
        matched += bool(reference.search(s))
    assert checked > 5_000 and matched > 500, (checked, matched)  # the test saw real matches
