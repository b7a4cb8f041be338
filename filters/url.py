"""URL block lists: a document whose URL is on one is removed (``url.blocked_domain``,
``blocked_url``, ``blocked_substring``, and for the word rules ``blocked_word``,
``blocked_soft_words``, ``blocked_subword``).

Lists come shipped, inline or from files. Shipped (``make url-lists``, from the DataTrove
package's FineWeb URL filter; used unless ``shipped: []``): ``ut1_fineweb``, the UT1 blacklist
as FineWeb used it (4.6M domains, mostly adult sites; CC BY-SA 4.0), and ``fineweb_url_words``,
its word rules (``UrlWords``). Files: plain lists (one entry per line, ``#`` comments) and the
UT1 blacklist directory format (one folder per category, each with ``domains`` and ``urls``
files; ``categories`` picks folders, all by default). A domain blocks itself and every
subdomain; a ``urls`` entry (``host/path``) blocks the URLs that start with it; a substring
blocks any URL that contains it. URLs and entries are compared normalized: scheme dropped, host
lowercased, ``www.`` dropped, internationalized names in punycode. Documents without a URL are
kept.

Domains are held as sorted 64-bit hashes (``HostSet``): 8 bytes a domain, where a set of
strings takes about 110 (509 MB for UT1's 4.6M, measured), so the lists fit every worker; the
shipped list is mapped from disk and shared by a machine's workers. Lists are read at a
filter's first document, not when a config is checked.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import xxhash

from curate.core.document import Document
from filters.base import Decision, Filter

LISTS_DIR = Path(__file__).resolve().parent / "lists"
SHIPPED = {  # name -> its files in LISTS_DIR (filters/url_lists.py writes them)
    "ut1_fineweb": ("ut1_fineweb.hosts.npy", "ut1_fineweb.urls.txt"),
    "fineweb_url_words": ("fineweb_url_words.json",),
}
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_MAX_SEEN = 65536  # hosts whose verdict a filter remembers


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


class HostSet:
    """Normalized hosts as a sorted array of their 64-bit xxh3 hashes. A false match needs two
    hosts with one hash: with 5 million entries, about one URL in a trillion (a few lookups
    each)."""

    def __init__(self, hashes: np.ndarray) -> None:
        self.hashes = hashes

    @classmethod
    def of(cls, hosts: Iterable[str]) -> HostSet:
        return cls(np.unique(np.fromiter(map(host_hash, hosts), np.uint64)))

    @classmethod
    def load(cls, path: str | Path) -> HostSet:
        return cls(np.load(path, mmap_mode="r"))

    def __len__(self) -> int:
        return len(self.hashes)

    def any_of(self, hosts: list[str]) -> bool:
        if not hosts or not len(self.hashes):
            return False
        keys = np.fromiter(map(host_hash, hosts), np.uint64, len(hosts))
        at = np.minimum(np.searchsorted(self.hashes, keys), len(self.hashes) - 1)
        return bool((self.hashes[at] == keys).any())


def host_hash(host: str) -> int:
    return xxhash.xxh3_64_intdigest(host.encode("utf-8", "surrogatepass"))


def domain_entry(entry: str) -> tuple[str, bool]:
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


def entry_lines(lines: Iterable[str]) -> list[str]:
    """A list's entries: its lines stripped, blank and ``#`` lines (comments, and entries
    DataTrove turned off) left out."""
    stripped = (ln.strip() for ln in lines)
    return [ln for ln in stripped if ln and not ln.startswith("#")]


def list_lines(path: str | Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return entry_lines(f)


def split_entries(entries: Iterable[str]) -> tuple[set[str], list[str]]:
    """A domain list's entries as (hosts, URL prefixes), by ``domain_entry``."""
    hosts: set[str] = set()
    prefixes: list[str] = []
    for entry in entries:
        host, is_url = domain_entry(entry)
        if is_url:
            prefixes.append(host)
        elif host:
            hosts.add(host)
    return hosts, prefixes


def shipped_paths(name: str) -> list[Path]:
    """The compiled files of a shipped list: domains (hashes) and URL prefixes, or words."""
    return [LISTS_DIR / f for f in SHIPPED[name]]


def url_words_key(text: str) -> str:
    """A word list's entry as FineWeb's URL filter compares it: letters and digits only."""
    return _NOT_ALNUM.sub("", text.lower())


@dataclass(frozen=True)
class UrlWords:
    """FineWeb's URL word rules (DataTrove's ``URLFilter`` lists): a URL is blocked when one of
    its words (runs of letters and digits) is a banned word, when two are soft-banned words, or
    when its letters and digits, run together, contain a banned subword (``pornhub`` in
    ``free-pornhub-videos``). Catches domains no block list has seen yet."""

    banned: frozenset[str]
    soft: frozenset[str]
    subwords: tuple[str, ...]
    soft_needed: int = 2

    def __post_init__(self) -> None:
        """The subwords in one Aho-Corasick automaton (pyahocorasick, as DataTrove): one pass
        over a URL, 0.6 µs, where testing each of FineWeb's 134 took 4.9."""
        import ahocorasick

        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for i, w in enumerate(self.subwords):
            automaton.add_word(w, i)
        if self.subwords:
            automaton.make_automaton()
        object.__setattr__(self, "_automaton", automaton)

    @classmethod
    def load(cls, path: str | Path) -> UrlWords:
        lists = json.loads(Path(path).read_text())
        return cls(
            frozenset(lists["banned"]), frozenset(lists["soft"]), tuple(sorted(lists["subwords"]))
        )

    def reason(self, url: str) -> str | None:
        low = url.lower()
        words = set(_NOT_ALNUM.split(low))
        if not words.isdisjoint(self.banned):
            return "blocked_word"
        if len(words & self.soft) >= self.soft_needed:
            return "blocked_soft_words"
        if self.subwords and next(self._automaton.iter(_NOT_ALNUM.sub("", low)), None):
            return "blocked_subword"
        return None


@dataclass
class UrlFilter(Filter):
    block_lists: tuple[str, ...] = ()  # files of domains, or UT1 directories
    categories: tuple[str, ...] = ()  # UT1 categories to use (default: every one)
    domains: tuple[str, ...] = ()
    substrings: tuple[str, ...] = ()
    shipped: tuple[str, ...] = tuple(SHIPPED)  # lists that ship with curate (make url-lists)
    _hosts: list[HostSet] | None = field(default=None, init=False, repr=False)
    _words: list[UrlWords] = field(default_factory=list, init=False, repr=False)
    _prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False)
    _seen: dict[str, bool] = field(default_factory=dict, init=False, repr=False)  # host: blocked

    name = "url"
    signals = ("blocked",)

    def __post_init__(self) -> None:
        """Every list is checked here, so a config fails before a build starts; they are read
        at the first document (``_load``)."""
        for name in self.shipped:
            if name not in SHIPPED:
                raise ValueError(f"shipped list {name!r} unknown; known: {list(SHIPPED)}")
            if not all(p.exists() for p in shipped_paths(name)):
                raise ValueError(
                    f"shipped list {name!r} is not installed: run `make url-lists` (it comes "
                    "from the datatrove package on PyPI), or set shipped: [] to use only your "
                    "own lists"
                )
        for path in self.block_lists:
            if os.path.isdir(path):
                for cat in self.categories:
                    if not os.path.isdir(os.path.join(path, cat)):
                        raise ValueError(f"UT1 category {cat!r} not found in {path}")
            elif not os.path.isfile(path):
                raise ValueError(f"block list not found: {path}")
        if any(not s for s in self.substrings):
            raise ValueError("substrings: an empty one is in every URL and would block them all")
        for entry in self.domains:
            if not normalize_url(domain_entry(entry)[0])[0]:
                hint = " (a file of domains goes in block_lists)" if os.path.exists(entry) else ""
                raise ValueError(f"domains: {entry!r} names no host, so it blocks nothing{hint}")

    def __getstate__(self) -> dict:
        # the lists are read again where it is unpickled
        return {**self.__dict__, "_hosts": None, "_prefixes": {}, "_words": [], "_seen": {}}

    def _load(self) -> None:
        entries = set(self.domains)
        prefixes: list[str] = []
        for path in self.block_lists:
            if os.path.isdir(path):
                for cat in sorted(self.categories or os.listdir(path)):
                    folder = os.path.join(path, cat)
                    if os.path.exists(os.path.join(folder, "domains")):
                        entries.update(list_lines(os.path.join(folder, "domains")))
                    if os.path.exists(os.path.join(folder, "urls")):
                        prefixes.extend(list_lines(os.path.join(folder, "urls")))
            else:
                entries.update(list_lines(path))
        hosts, entry_prefixes = split_entries(entries)
        prefixes.extend(entry_prefixes)
        sets = [HostSet.of(hosts)]
        for name in self.shipped:
            if name == "fineweb_url_words":
                self._words.append(UrlWords.load(*shipped_paths(name)))
                continue
            hashes, urls = shipped_paths(name)
            sets.append(HostSet.load(hashes))
            prefixes.extend(list_lines(urls))
        by_host: dict[str, set[str]] = {}  # a prefix holds its host whole: looked up by it
        for p in prefixes:
            if p:
                host, full = normalize_url(p)
                by_host.setdefault(host, set()).add(full)
        self._prefixes = {h: tuple(sorted(v)) for h, v in by_host.items()}
        self._hosts = [s for s in sets if len(s)]

    def apply(self, doc: Document) -> Decision:
        if not doc.url:
            return Decision(True, None, {"blocked": 0.0})
        host, full = normalize_url(doc.url)
        reason = self._reason(host, full, doc.url.lower())
        return Decision(reason is None, reason, {"blocked": float(reason is not None)})

    def _host_blocked(self, host: str) -> bool:
        """Whether the host or one of its domains is listed; remembered per host (a crawl
        holds many pages of each site), forgetting all past ``_MAX_SEEN`` hosts."""
        blocked = self._seen.get(host)
        if blocked is None:
            suffixes, suffix = [], ""  # the host's domains, up to DNS's 253 characters: a
            for label in reversed(host.split(".")):  # host of 200,000 labels took 108 s
                suffix = f"{label}.{suffix}" if suffix else label  # joined whole
                if len(suffix) > 253:
                    break
                suffixes.append(suffix)
            blocked = any(s.any_of(suffixes) for s in self._hosts or ())
            if len(self._seen) >= _MAX_SEEN:
                self._seen.clear()
            self._seen[host] = blocked
        return blocked

    def _reason(self, host: str, full: str, raw: str) -> str | None:
        if self._hosts is None:
            self._load()
        if self._host_blocked(host):
            return "blocked_domain"
        if full.startswith(self._prefixes.get(host, ())):
            return "blocked_url"
        if any(s.lower() in raw for s in self.substrings):
            return "blocked_substring"
        for words in self._words:
            if reason := words.reason(full):
                return reason
        return None
