"""PII redaction: e-mail addresses, phone numbers, IPv4/IPv6 addresses, payment card numbers,
IBANs and secrets are replaced with typed placeholders such as ``[EMAIL]``.

Every candidate is validated before it is redacted, so that near-misses survive: card numbers
must pass the Luhn check and start like a card (so ISBN-13s, which start 978/979, do not);
IBANs must pass the ISO 13616 mod-97 check; IP addresses must parse with ``ipaddress`` and a
dotted quad after "v" or "version" is a version number; phone numbers need 8-15 digits and a
leading "+" or a typical grouping, and dates (2021-03-04, 04.03.2021, with a time after
them) are not phones.
The filter never removes a document; its signals count the redactions per type.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from curate.core.document import Document
from filters.base import Decision, Filter

_SECRETS = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:(?!-----BEGIN )[\s\S])*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}\b"  # GitHub
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}\b"  # Slack
    r"|\bAIza[0-9A-Za-z_-]{35}\b"  # Google API key
    r"|\b[sr]k_live_[0-9A-Za-z]{20,}\b"  # Stripe
    r"|\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}\b"  # OpenAI-style
    r"|\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # JWT
)
# bounded as RFC 5321 bounds them (local part 64, labels 63): unbounded, every start in a long
# run of dots and letters scanned to its end, quadratic (a 1 MB run took minutes)
_EMAIL = re.compile(
    r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,63}\b"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_VERSION_BEFORE = re.compile(r"(?:\bv|\bversion\s?|\brelease\s?)$", re.IGNORECASE)
_PHONE = re.compile(  # not inside a dotted or slashed token (a DOI, a path, a version)
    r"(?<![\w+/])(?<!\w\.)\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{2,8}){1,5}"
    r"(?![\w-])(?!\.\w)"  # +CC ...
    r"|(?<![\w+/])(?<!\w\.)(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}"
    r"(?![\w-])(?!\.\w)"  # national
)
_DATE = re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})|(\d{1,2})[-./](\d{1,2})[-./]\d{2,4}")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|6(?:011|5|4[4-9])|35|62)")

TYPES = ("secret", "email", "iban", "card", "ipv6", "ipv4", "phone")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# countries in the SWIFT IBAN registry
_IBAN_COUNTRIES = frozenset(
    "AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI "
    "GL GR GT HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI NL "
    "NO OM PK PL PS PT QA RO RS RU SA SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK YE".split()
)


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34 or s[:2] not in _IBAN_COUNTRIES:
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _is_card(m: re.Match) -> bool:
    digits = re.sub(r"\D", "", m.group())
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


def _is_ipv6(m: re.Match) -> bool:
    try:
        return ipaddress.ip_address(m.group()).version == 6
    except ValueError:
        return False


def _is_ipv4(m: re.Match) -> bool:
    if _VERSION_BEFORE.search(m.string, 0, m.start()):
        return False
    try:
        ipaddress.IPv4Address(m.group())
        return True
    except ValueError:
        return False


def _is_date(part: str) -> bool:
    """2021-03-04, 04.03.2021 or 3/4/21 (a timestamp's date beside its time, "2020-01-01 12"
    of "2020-01-01 12:30", is no phone either)."""
    m = _DATE.fullmatch(part)
    if m is None:
        return False
    if m[1]:
        return 1 <= int(m[2]) <= 12 and 1 <= int(m[3]) <= 31
    a, b = int(m[4]), int(m[5])
    return 1 <= min(a, b) <= 12 and max(a, b) <= 31


# not phones either: an amount grouped in thousands ("12 000 000", "1.234.567"; a phone's
# first group is not 1-2 digits before groups of exactly 3), a year and a time ("2012 14.35",
# Wikipedia's signatures in several languages), a number after a numero or hash sign
_THOUSANDS = re.compile(r"\d{1,2}(?:([ .])\d{3})(?:\1\d{3})*")
_YEAR_TIME = re.compile(r"(?:19|20)\d\d (?:[01]?\d|2[0-3])[.:][0-5]\d")


def _is_phone(m: re.Match) -> bool:
    s = m.group()
    digits = sum(c.isdigit() for c in s)
    if not 8 <= digits <= 15 or any(_is_date(part) for part in re.split(r"[ T]", s)):
        return False
    if _THOUSANDS.fullmatch(s) or _YEAR_TIME.fullmatch(s):
        return False
    if any(c in "№#" for c in m.string[max(0, m.start() - 3) : m.start()]):
        return False
    grouped = s.startswith(("+", "(")) or len(re.split(r"[ .-]", s)) >= 3
    return grouped and not re.fullmatch(r"[\d.]+", s)  # 3.14159.2653 is not a phone


_SECRET_PREFIXES = (
    "-----BEGIN", "AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "AIza",
    "k_live_", "sk-", "eyJ",
)  # fmt: skip

# Necessary conditions, one cheap scan each, that let most documents skip a rule's pattern
# (whose lookbehinds and leading \b defeat the regex engine's fast prefix search). Each hint
# matches inside every match of its rules, and a placeholder never creates a new hint match.
_NUMERIC_HINT = re.compile(r"\d[\d .()/-]{5,}\d").search  # card, phone, IPv4: 7+ chars
_IBAN_HINT = re.compile(r"[A-Z][A-Z]\d\d").search
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:").search


def _email_hint(text: str) -> bool:
    return "@" in text


def _secret_hint(text: str) -> bool:
    return any(p in text for p in _SECRET_PREFIXES)


# Every card, IPv4 and phone match consists of characters of this class and is 7 or more long:
# those patterns need only run over such runs (lookarounds still see the text around them)
_NUMERIC_RUN = re.compile(r"[\d .()+-]{7,}")

# (type, pattern, validator, hint, runs the pattern is confined to)
_RULES = (
    ("secret", _SECRETS, None, _secret_hint, None),
    ("email", _EMAIL, None, _email_hint, None),
    ("iban", _IBAN, lambda m: iban_ok(m.group()), _IBAN_HINT, None),
    ("card", _CARD, _is_card, _NUMERIC_HINT, _NUMERIC_RUN),
    ("ipv6", _IPV6, _is_ipv6, _IPV6_HINT, None),
    ("ipv4", _IPV4, _is_ipv4, _NUMERIC_HINT, _NUMERIC_RUN),
    ("phone", _PHONE, _is_phone, _NUMERIC_HINT, _NUMERIC_RUN),
)


def _sub_in_runs(pattern: re.Pattern, runs: re.Pattern, repl, text: str) -> str:
    """``pattern.sub(repl, text)`` for a pattern whose matches all lie inside ``runs``
    matches: the same result, scanning only those runs."""
    parts, last = [], 0
    for run in runs.finditer(text):
        a, b = run.span()  # maximal: text[b] cannot be part of a match
        for m in pattern.finditer(text, a, min(len(text), b + 1)):
            parts += [text[last : m.start()], repl(m)]
            last = m.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def redact(text: str, types: tuple[str, ...] = TYPES) -> tuple[str, dict[str, int]]:
    """The text with each validated match replaced by ``[TYPE]``, and counts per type."""
    counts = dict.fromkeys(types, 0)
    hinted: dict = {}
    for name, pattern, valid, hint, runs in _RULES:
        if name not in counts:
            continue
        if hint not in hinted:
            hinted[hint] = bool(hint(text))
        if not hinted[hint]:
            continue

        def sub(m: re.Match, name=name, valid=valid) -> str:
            if valid is not None and not valid(m):
                return m.group()
            counts[name] += 1
            return f"[{name.upper()}]"

        text = pattern.sub(sub, text) if runs is None else _sub_in_runs(pattern, runs, sub, text)
    return text, counts


@dataclass
class PII(Filter):
    types: tuple[str, ...] = TYPES

    name = "pii"
    signals = TYPES
    totals = TYPES

    def __post_init__(self) -> None:
        unknown = set(self.types) - set(TYPES)
        if unknown:
            raise ValueError(f"unknown PII types {sorted(unknown)}; known: {list(TYPES)}")
        self.types = tuple(self.types)

    def apply(self, doc: Document) -> Decision:
        new, counts = redact(doc.text, self.types)
        signals = {t: float(counts.get(t, 0)) for t in TYPES}
        return Decision(True, None, signals, new if new != doc.text else None)
