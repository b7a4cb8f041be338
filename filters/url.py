"""URL block lists: a document whose URL is on one is removed (``url.blocked_domain``,
``url.blocked_url``, ``url.blocked_substring``).

Lists come inline or from files: plain lists (one entry per line, ``#`` comments) and the UT1
blacklist directory format (one folder per category, each with ``domains`` and ``urls`` files;
``categories`` picks folders, all by default). A domain blocks itself and every subdomain; a
``urls`` entry (``host/path``) blocks the URLs that start with it; a substring blocks any URL that
contains it. URLs and entries are compared normalized: scheme dropped, host lowercased, ``www.``
dropped, internationalized names in punycode. Documents without a URL are kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from curate.core.document import Document
from filters.base import Decision, Filter


def normalize_host(host: str) -> str:
    host = host.strip().strip(".").lower()
    host = host.removeprefix("www.")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host


def normalize_url(url: str) -> tuple[str, str]:
    """(host, host + path and query): what the lists are matched against."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        host = normalize_host(parts.hostname or "")
    except ValueError:
        return "", url.strip().lower()
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return host, host + rest


def _lines(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]


def _domain_entry(entry: str) -> tuple[str, bool]:
    """A domain list's entry as (host, False), or (the entry, True) when it is a URL with a
    path (then a URL prefix, as UT1's ``urls``). Lists in the wild also hold
    ``*.example.com``, ``http://host/`` and trailing comments, which compared as written
    would never match."""
    entry = entry.split(" #", 1)[0].split("\t#", 1)[0].strip().removeprefix("*.")
    if "/" not in entry and ":" not in entry:
        return normalize_host(entry), False
    host, full = normalize_url(entry)
    if full.rstrip("/") != host:
        return entry, True
    return host, False


@dataclass
class UrlFilter(Filter):
    block_lists: tuple[str, ...] = ()  # files of domains, or UT1 directories
    categories: tuple[str, ...] = ()  # UT1 categories to use (default: every one)
    domains: tuple[str, ...] = ()
    substrings: tuple[str, ...] = ()
    _domains: set[str] = field(default_factory=set, init=False, repr=False)
    _prefixes: tuple[str, ...] = field(default=(), init=False, repr=False)

    name = "url"
    signals = ("blocked",)

    def __post_init__(self) -> None:
        domains = set(self.domains)
        prefixes: list[str] = []
        for path in self.block_lists:
            if os.path.isdir(path):
                for cat in sorted(self.categories or os.listdir(path)):
                    folder = os.path.join(path, cat)
                    if not os.path.isdir(folder):
                        raise ValueError(f"UT1 category {cat!r} not found in {path}")
                    if os.path.exists(os.path.join(folder, "domains")):
                        domains.update(_lines(os.path.join(folder, "domains")))
                    if os.path.exists(os.path.join(folder, "urls")):
                        prefixes.extend(_lines(os.path.join(folder, "urls")))
            elif os.path.isfile(path):
                domains.update(_lines(path))
            else:
                raise ValueError(f"block list not found: {path}")
        if any(not s for s in self.substrings):
            raise ValueError("substrings: an empty one is in every URL and would block them all")
        hosts = set()
        for entry in domains:
            host, is_url = _domain_entry(entry)
            if is_url:
                prefixes.append(host)
            elif host:
                hosts.add(host)
        self._domains = hosts
        self._prefixes = tuple(sorted({normalize_url(p)[1] for p in prefixes if p}))

    def apply(self, doc: Document) -> Decision:
        if not doc.url:
            return Decision(True, None, {"blocked": 0.0})
        host, full = normalize_url(doc.url)
        reason = self._reason(host, full, doc.url.lower())
        return Decision(reason is None, reason, {"blocked": float(reason is not None)})

    def _reason(self, host: str, full: str, raw: str) -> str | None:
        suffix = ""  # the host's domains, shortest first, up to DNS's 253 characters: a host
        for label in reversed(host.split(".")):  # of 200,000 labels took 108 s joined whole
            suffix = f"{label}.{suffix}" if suffix else label
            if len(suffix) > 253:
                break
            if suffix in self._domains:
                return "blocked_domain"
        if self._prefixes and full.startswith(self._prefixes):
            return "blocked_url"
        if any(s.lower() in raw for s in self.substrings):
            return "blocked_substring"
        return None
