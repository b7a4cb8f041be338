"""HTML bytes to main-content text, paragraphs kept, with the page's title and language hint.

Decoding: the HTTP header's charset, else the page's own ``<meta>`` charset, else one detected
by Resiliparse's detector (uchardet, WHATWG names); undecodable bytes are replaced. Extraction,
``web.extractor``:

- ``resiliparse``: Resiliparse's main-content extraction (a C++ DOM walk with boilerplate
  rules): about 9x Trafilatura's speed, but it keeps more boilerplate (macro F1 0.83);
- ``trafilatura``: Trafilatura's full extraction (XPath heuristics, then its readability and
  jusText fallbacks): macro F1 0.92;
- ``fallback`` (default): Trafilatura in its recall mode without its own fallbacks (``fast``,
  ``favor_recall``), then Resiliparse when that keeps under ``min_words`` words: the same macro
  F1 as full Trafilatura at about 1.8x its speed. Recall mode, because Trafilatura's balanced
  mode ends in a second pass for short extractions (a retry in recall mode, gated on a plain
  text of the whole page: a fifth of its time), and recall mode from the start scored the same.

Measured on four gold sets (BENCHMARKS.md, "HTML extraction"). The title and ``<html lang>``
come from the page's head, whatever the extractor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape

EXTRACTORS = ("resiliparse", "trafilatura", "fallback")
_META_CHARSET = re.compile(rb"<meta[^<>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
# tags stop at the next "<": an unclosed "<img" or "<html" repeated made each start scan the
# rest of the page (quadratic); a title stops at the next "<title"
_IMG = re.compile(r"<img\b[^<>]*>", re.I)
_ATTR = re.compile(r"""(?<![\w-])(src|alt)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
MAX_IMAGES = 32
_TITLE = re.compile(r"<title[^<>]*>((?:(?!</?title).)*)</title", re.I | re.S)
IMAGE_LINE = re.compile(r"!\[([^\]\n]*)\]\((\S+?)\)")  # an image in Trafilatura's text
_LANG = re.compile(
    r"<html\b[^<>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)", re.I
)
# older pages name their language only here (HTML 4's http-equiv; attributes in either order)
_META_LANG = re.compile(
    r"<meta\b(?=[^<>]*\bhttp-equiv\s*=\s*[\"']?content-language\b)[^<>]*?\bcontent\s*=\s*"
    r"[\"']?\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)",
    re.I,
)


@dataclass(slots=True)
class Extracted:
    text: str
    title: str | None = None
    lang: str | None = None  # the page's <html lang>, else its http-equiv Content-Language
    extractor: str = ""
    images: list[dict[str, str]] = field(default_factory=list)  # <img> src and alt, in order


_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"))


def decode_html(
    body: bytes, http_charset: str | None = None, meta: bool = True
) -> tuple[str, str, str]:
    """(text, charset, where the charset came from: bom, http, meta or detected), in the order
    of WHATWG's encoding sniffing: a byte-order mark overrides the HTTP header, and a ``<meta>``
    naming UTF-16 means UTF-8 (a tag readable as ASCII is not UTF-16). ``meta=False`` for
    plain text, which has no ``<meta>`` of its own."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5

    for bom, name in _BOMS:
        if body.startswith(bom):
            return bytes_to_str(body, name, fallback_encodings=()), name, "bom"
    in_page = _meta_charset(body) if meta else None
    for charset, source in ((http_charset, "http"), (in_page, "meta")):
        name = map_encoding_to_html5(charset) if charset else None
        if name and source == "meta" and name.startswith("utf-16"):
            name = "utf-8"
        if name:
            return bytes_to_str(body, name, fallback_encodings=()), name, source
    name = detect_encoding(body)
    return bytes_to_str(body, name), name, "detected"


def _meta_charset(body: bytes) -> str | None:
    m = _META_CHARSET.search(body[:4096])
    return m.group(1).decode("ascii", "replace") if m else None


def extract(
    html: str, extractor: str = "fallback", min_words: int = 50, with_images: bool = False
) -> Extracted:
    """``with_images``: Trafilatura's text keeps the main content's images where they stand,
    one ``![alt](src)`` line each (``IMAGE_LINE``), for interleaved documents; Resiliparse
    marks none."""
    head = html[:65536]
    title_m, lang_m = _TITLE.search(head), _LANG.search(head)
    title = " ".join(unescape(title_m.group(1)).split()) or None if title_m else None
    if lang_m is None:
        lang_m = _META_LANG.search(head)
    lang = lang_m.group(1) if lang_m else None
    if extractor == "resiliparse":
        text, used = _resiliparse(html), "resiliparse"
    elif extractor == "trafilatura":
        text, used = _trafilatura(html, with_images, fast=False, recall=False), "trafilatura"
    else:
        text, used = _trafilatura(html, with_images, fast=True, recall=True), "trafilatura"
        words = _words(text)
        if words < min_words:
            other = _resiliparse(html)
            if len(other.split()) > words:
                text, used = other, "resiliparse"
    return Extracted(text, title, lang, used, images(html))


def images(html: str) -> list[dict[str, str]]:
    """The page's ``<img>`` sources and alt texts, in page order (at most ``MAX_IMAGES``): what
    a crawl without the image responses can keep of them."""
    out = []
    for tag in _IMG.finditer(html):
        attrs = {
            m.group(1).lower(): unescape(m.group(2) or m.group(3) or m.group(4) or "")
            for m in _ATTR.finditer(tag.group())
        }
        if attrs.get("src"):
            out.append({"src": attrs["src"][:2000], "alt": " ".join(attrs.get("alt", "").split())})
            if len(out) == MAX_IMAGES:
                break
    return out


def _resiliparse(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    text = extract_plain_text(
        tree,
        preserve_formatting=True,
        main_content=True,
        list_bullets=False,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
    )
    return _paragraphs(text)


def _words(text: str) -> int:
    return sum(len(line.split()) for line in text.splitlines() if not IMAGE_LINE.fullmatch(line))


def _trafilatura(html: str, with_images: bool, *, fast: bool, recall: bool) -> str:
    """``fast``: without Trafilatura's own fallbacks; ``recall``: its recall mode instead of
    the balanced one (the default extractor's, module docstring)."""
    import logging

    import trafilatura

    # it logs an ERROR for every page it finds no text in: here that is an empty text, which
    # the screen removes with its reason
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    text = trafilatura.extract(
        html,
        fast=fast,
        favor_recall=recall,
        include_comments=False,
        include_tables=True,
        include_images=with_images,
        deduplicate=False,
    )
    return _paragraphs(text or "")


def _paragraphs(text: str) -> str:
    """One paragraph per line, blank lines and surrounding spaces dropped."""
    return "\n".join(ln.strip() for ln in text.splitlines() if ln.strip())
