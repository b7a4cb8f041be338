"""The URL block-list filter: domains with their subdomains, UT1 directories, URL prefixes and
substrings, matched on normalized URLs."""

from __future__ import annotations

import pytest

from curate.core.document import Document
from filters.registry import build_filters


def _decide(f, url):
    d = f.apply(Document("d", "text", 0, url=url))
    return d.reason if not d.keep else None


@pytest.fixture
def ut1(tmp_path):
    for cat, domains, urls in (
        ("adult", ["badsite.example", "xn--bcher-kva.example"], ["host.example/private"]),
        ("gambling", ["casino.example"], []),
    ):
        (tmp_path / "ut1" / cat).mkdir(parents=True)
        (tmp_path / "ut1" / cat / "domains").write_text("\n".join(["# list", *domains]) + "\n")
        if urls:
            (tmp_path / "ut1" / cat / "urls").write_text("\n".join(urls) + "\n")
    (tmp_path / "plain.txt").write_text("spam.example\n")
    return tmp_path


def test_domains_subdomains_and_normalization(ut1):
    (f,) = build_filters([{"url": {"block_lists": [str(ut1 / "ut1"), str(ut1 / "plain.txt")]}}])
    assert _decide(f, "https://badsite.example/page") == "blocked_domain"
    assert _decide(f, "HTTP://WWW.BadSite.Example:8080/x") == "blocked_domain"
    assert _decide(f, "https://cdn.img.badsite.example/a.png") == "blocked_domain"
    assert _decide(f, "https://notbadsite.example/") is None  # a suffix, not a subdomain
    assert _decide(f, "http://bücher.example/") == "blocked_domain"  # punycode in the list
    assert _decide(f, "http://spam.example") == "blocked_domain"
    assert _decide(f, "https://host.example/private/1") == "blocked_url"
    assert _decide(f, "https://host.example/public") is None
    assert _decide(f, "https://casino.example/") == "blocked_domain"
    assert _decide(f, None) is None  # no URL: kept
    assert _decide(f, "not a url at all") is None


def test_categories_and_substrings(ut1):
    (f,) = build_filters(
        [
            {
                "url": {
                    "block_lists": [str(ut1 / "ut1")],
                    "categories": ["gambling"],
                    "substrings": ["/wp-login"],
                }
            }
        ]
    )
    assert _decide(f, "https://badsite.example/") is None  # adult not selected
    assert _decide(f, "https://casino.example/") == "blocked_domain"
    assert _decide(f, "https://blog.example/wp-login.php") == "blocked_substring"
    with pytest.raises(ValueError, match="block list not found"):
        build_filters([{"url": {"block_lists": [str(ut1 / "missing")]}}])


def test_a_host_of_many_labels_is_matched_on_its_domains_only():
    """Found by probing: every suffix of the host was joined whole, quadratic (a bogus target
    URI of 200,000 labels took 108 s). Only suffixes a DNS name can have (253 characters) are
    looked up; a deep subdomain of a blocked domain is still blocked."""
    (f,) = build_filters([{"url": {"domains": ["bad.example"]}}])
    deep = "http://" + "a." * 200_000
    assert _decide(f, deep + "bad.example/x") == "blocked_domain"
    assert _decide(f, deep + "good.example/x") is None
    assert _decide(f, "http://" + "x." * 120 + "bad.example") == "blocked_domain"


def test_plain_lists_as_found_in_the_wild(tmp_path):
    """Found by probing: wildcards, whole URLs and trailing comments in a domain list were
    compared as written and never matched; an empty substring blocked every URL."""
    lines = ["*.ads.example", "https://www.Tracker.example/", "http://host.example/private/",
             "casino.example # gambling", "\tbare.example\t"]  # fmt: skip
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    (f,) = build_filters([{"url": {"block_lists": [str(tmp_path / "list.txt")]}}])
    assert _decide(f, "http://x.ads.example/a") == "blocked_domain"
    assert _decide(f, "http://tracker.example/pixel") == "blocked_domain"
    assert _decide(f, "https://host.example/private/page") == "blocked_url"
    assert _decide(f, "https://host.example/public") is None  # a URL entry is a prefix only
    assert _decide(f, "https://casino.example/") == "blocked_domain"
    assert _decide(f, "https://bare.example/") == "blocked_domain"
    with pytest.raises(Exception, match="empty one"):
        build_filters([{"url": {"substrings": ["casino", ""]}}])
