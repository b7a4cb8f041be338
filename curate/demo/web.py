"""A demo web crawl: the demo's articles as HTML pages in WARC files, one file per crawl snapshot,
with the records a real crawl holds besides pages.

Each file has a ``warcinfo`` record naming its crawl (``isPartOf``), and for every page a
``request``, a ``response`` (HTML with navigation, a cookie banner and a footer around the
article) and a ``metadata`` record. Each file also plants one redirect, one 404, one image, one
``revisit``, one page sent gzip-compressed and chunked, one page in windows-1252 declared only
in its ``<meta>``, and one whose compressed body would expand past the size limit. Every
fifth page shows a photo inside its article, whose JPEG response follows the page
(``truth["images"]``): with ``input.modality: interleaved`` or ``image_text`` these make
interleaved documents and image-text pairs (``curate.web.crawl_images``). Records are gzip
members, as Common Crawl writes them. ``ground_truth.json``: every page's article text and
the expected count of each kind of record.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from curate.demo.writer import _pick_topic, _Writer, _year_frac

CRAWLS = (
    ("DEMO-2019-06", datetime(2019, 6, 10, tzinfo=timezone.utc)),
    ("DEMO-2020-06", datetime(2020, 6, 8, tzinfo=timezone.utc)),
    ("DEMO-2021-06", datetime(2021, 6, 14, tzinfo=timezone.utc)),
    ("DEMO-2022-06", datetime(2022, 6, 13, tzinfo=timezone.utc)),
)
NAV = '<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/sport">Sport</a></nav>'
BANNER = '<div class="cookie">We use cookies to improve your experience. <a href="/p">OK</a></div>'
FOOTER = "<footer><p>(c) Example Media. All rights reserved.</p><p>Contact | Privacy</p></footer>"
BOMB_BYTES = 64_000_000  # expands past the demo config's max_doc_bytes


def record(rtype: str, rng: random.Random, when: datetime, block: bytes, **headers) -> bytes:
    """One WARC/1.1 record, as a gzip member."""
    head = {
        "WARC-Type": rtype,
        "WARC-Record-ID": f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}>",
        "WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **{k.replace("_", "-"): v for k, v in headers.items()},
        "Content-Length": str(len(block)),
    }
    text = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
    return gzip.compress(text.encode() + block + b"\r\n\r\n", mtime=0)


def http_response(body: bytes, status: str = "200 OK", **headers) -> bytes:
    head = {"Content-Type": "text/html; charset=utf-8", **headers}
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in head.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def page_html(
    title: str, article: str, charset: str = "utf-8", figure: tuple[str, str] | None = None
) -> str:
    """``figure``: an image (src, alt) shown after the article's first paragraph."""
    parts = [f"<p>{p}</p>" for p in article.split("\n\n")]
    if figure is not None:
        parts.insert(1, f'<figure><img src="{figure[0]}" alt="{figure[1]}"></figure>')
    paras = "".join(parts)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="{charset}"><title>{title}</title>'
        f"</head><body>{NAV}{BANNER}<main><article><h1>{title}</h1>{paras}</article></main>"
        f"{FOOTER}</body></html>"
    )


def generate_web(out_dir: str | Path, pages_per_crawl: int = 40, seed: int = 0) -> dict:
    from curate.demo.images import draw, encode

    rng = random.Random(seed + 2)
    img_rng = random.Random(seed + 3)  # the pages' photos: the rest of the crawl as it was
    w = _Writer(rng)
    out = Path(out_dir)
    raw = out / "warc"
    raw.mkdir(parents=True, exist_ok=True)
    truth: dict = {
        "pages": {},
        "skipped": {},
        "quarantined": {},
        "crawls": [c for c, _ in CRAWLS],
        "images": {},  # photo URL -> {page, alt}: fetched after the page, as crawlers do
    }

    def count(kind: str, reason: str) -> None:
        truth[kind][reason] = truth[kind].get(reason, 0) + 1

    for crawl, start in CRAWLS:
        chunks = []
        info = f"isPartOf: {crawl}\r\npublisher: curate demo\r\nformat: WARC File Format 1.1\r\n"
        chunks.append(
            record("warcinfo", rng, start, info.encode(), Content_Type="application/warc-fields")
        )
        count("skipped", "warc.warcinfo")
        for i in range(pages_per_crawl):
            when = start + timedelta(minutes=rng.randint(0, 60 * 24 * 6))
            topic = _pick_topic(rng, _year_frac(when))
            article = w.article(topic, _year_frac(when))
            url = f"https://news.example.org/{crawl.lower()}/{topic}/{i}"
            title = f"{topic.title()} news {i}"
            charset = "utf-8"
            headers: dict = {}
            photo = jpeg = None
            if i % 5 == 3:
                im, caption = draw(img_rng, (96, 64))
                photo, jpeg = (f"/img/{crawl.lower()}-{i}.jpg", caption), encode(im, "JPEG")
            body = page_html(title, article, figure=photo).encode()
            if i == 1:  # gzip-compressed and chunked, as a server sends it
                body = gzip.compress(body, mtime=0)
                body = (
                    b"".join(
                        f"{len(body[j : j + 700]):x}\r\n".encode() + body[j : j + 700] + b"\r\n"
                        for j in range(0, len(body), 700)
                    )
                    + b"0\r\n\r\n"
                )
                headers = {"Content_Encoding": "gzip", "Transfer_Encoding": "chunked"}
            elif i == 2:  # windows-1252, declared only in the page
                charset = "windows-1252"
                article = article.replace(" the ", " the café ", 1)
                body = page_html(title, article, charset).encode("cp1252")
                headers = {"Content_Type": "text/html"}
            chunks.append(
                record("request", rng, when, b"GET / HTTP/1.1\r\n\r\n", WARC_Target_URI=url)
            )
            count("skipped", "warc.request")
            response = http_response(body, **headers)
            rec = record(
                "response",
                rng,
                when,
                response,
                WARC_Target_URI=url,
                Content_Type="application/http; msgtype=response",
            )
            chunks.append(rec)
            truth["pages"][url] = {"crawl": crawl, "article": article, "date": when.isoformat()}
            meta = b"fetchTimeMs: 120\r\n"
            chunks.append(record("metadata", rng, when, meta, WARC_Target_URI=url))
            count("skipped", "warc.metadata")
            if photo is not None:
                src = f"https://news.example.org{photo[0]}"
                response = http_response(jpeg, Content_Type="image/jpeg")
                later = when + timedelta(seconds=5)
                chunks.append(record("response", img_rng, later, response, WARC_Target_URI=src))
                truth["images"][src] = {"page": url, "alt": photo[1]}
                count("skipped", "warc.not_text")
        when = start + timedelta(days=1)
        base = f"https://news.example.org/{crawl.lower()}"
        chunks.append(
            record(
                "response",
                rng,
                when,
                http_response(b"", "301 Moved Permanently", Location="/"),
                WARC_Target_URI=f"{base}/old",
            )
        )
        count("skipped", "warc.http_status")
        chunks.append(
            record(
                "response",
                rng,
                when,
                http_response(b"<h1>Not found</h1>", "404 Not Found"),
                WARC_Target_URI=f"{base}/missing",
            )
        )
        count("skipped", "warc.http_status")
        png = b"\x89PNG\r\n\x1a\n" + bytes(64)
        chunks.append(
            record(
                "response",
                rng,
                when,
                http_response(png, Content_Type="image/png"),
                WARC_Target_URI=f"{base}/logo.png",
            )
        )
        count("skipped", "warc.not_text")
        chunks.append(
            record(
                "revisit",
                rng,
                when,
                b"",
                WARC_Target_URI=f"{base}/topic/0",
                WARC_Profile="http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
            )
        )
        count("skipped", "warc.revisit")
        bomb = gzip.compress(b" " * BOMB_BYTES, mtime=0)
        chunks.append(
            record(
                "response",
                rng,
                when,
                http_response(bomb, Content_Encoding="gzip"),
                WARC_Target_URI=f"{base}/bomb",
            )
        )
        count("quarantined", "too_large")
        (raw / f"{crawl}.warc.gz").write_bytes(b"".join(chunks))
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth
