"""Images from a crawl: where a web archive holds the image responses its pages reference,
pages become interleaved documents and ``<img>`` alt texts become image-text pairs.

Two passes over the archive (images often come after the pages that show them). The first
keeps what the second needs: for interleaved documents the image bytes by URL (at most
``IMAGE_BUDGET`` bytes per archive: images past it stay out, their pages keep only text); for
pairs the first non-empty alt text found for each image URL, with its page. The second reads
every record as ``curate.web.documents`` does, and:

- ``interleaved``: a page's main content (Trafilatura, which keeps the content's images in
  place as ``![alt](src)`` lines) becomes text and image segments in page order, OBELICS
  style, each image resolved against the page URL; an image the archive does not hold is left
  out of the segments (its URL and alt stay in ``images`` metadata). An image response is one
  input record too: removed as ``warc.image``, its bytes living on in the pages that show it.
- ``image_text``: an image response with an alt text becomes a pair (the alt as caption, the
  page as ``page_url``); one without is removed as ``warc.image_without_alt``; pages are
  removed as ``warc.page`` without extracting their text (what they give is the captions, read
  in the first pass).

Every record still ends in one place, so ``stats.json`` balances record for record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

from curate.readers.records import RawRecord, SkippedRecord

IMAGE_BUDGET = 256 * 1024 * 1024


@dataclass
class CrawlImages:
    """What the first pass found in one archive."""

    modality: str  # "interleaved" or "image_text"
    store: dict[str, bytes] = field(default_factory=dict)  # image URL -> body (interleaved)
    alts: dict[str, tuple[str, str]] = field(default_factory=dict)  # URL -> (alt, page URL)
    held: int = 0

    def add_image(self, url: str, body: bytes) -> None:
        """Interleaved documents: an image response, held while the budget lasts."""
        if url not in self.store and self.held + len(body) <= IMAGE_BUDGET:
            self.store[url] = body
            self.held += len(body)

    def add_page(self, page_url: str, html: str) -> None:
        """Pairs: the page's ``<img>`` alt texts, the first found for each image URL."""
        from curate.web.html import images

        for im in images(html):
            if im["alt"]:
                self.alts.setdefault(urljoin(page_url, im["src"]), (im["alt"], page_url))

    def page(self, record: RawRecord) -> RawRecord:
        """An interleaved document: the page's text as text and image segments. (With pairs,
        pages are removed as ``warc.page`` before their text is extracted.)"""
        value = record.value
        value["content"] = self.segments(value.pop("text"), value.get("url"))
        return record

    def text_page(self, record: RawRecord) -> RawRecord:
        """An interleaved document of text only (a WET record): its lines kept as written."""
        value = record.value
        value["content"] = [{"text": line} for line in value.pop("text").splitlines()]
        return record

    def segments(self, text: str, page_url: str | None) -> list[dict]:
        from curate.web.html import IMAGE_LINE

        out: list[dict] = []
        for line in text.splitlines():
            m = IMAGE_LINE.fullmatch(line)
            if m is None:
                out.append({"text": line})
                continue
            body = self.store.get(urljoin(page_url or "", m.group(2)))
            if body is not None:
                out.append({"image": body})
        return out

    def image(self, position: int, nbytes: int, info: dict, body: bytes, when: str | None):
        """An image response: a pair, or removed with its reason."""
        found = self.alts.get(info["url"] or "") if self.modality == "image_text" else None
        if found is None:
            reason = "warc.image" if self.modality == "interleaved" else "warc.image_without_alt"
            return SkippedRecord(position, reason, nbytes, info)
        alt, page_url = found
        value = {
            "id": info["id"],
            "image": body,
            "text": alt,
            "timestamp": when,
            "url": info["url"],
            "page_url": page_url,
            "source": info["crawl"],
            "crawl": info["crawl"],
            "content_type": info.get("content_type"),
        }
        return RawRecord(position, value, nbytes)
