"""A web archive's records to documents: a ``response`` (or ``resource``) record of HTML or
plain text with HTTP status 200, and a WET ``conversion`` record, becomes a document: its text
(HTML through ``curate.web.html``), the ``WARC-Date``, ``WARC-Record-ID``, target URI and the
crawl (``isPartOf`` of the file's ``warcinfo``), plus HTTP status, content type, charset and its
source, title and language hint as metadata. Every other record is a ``SkippedRecord`` with a
named reason, counted under ``removed.warc.*`` so that ``stats.json`` balances record for
record. The archive is framed by ``curate.readers.warc``; this wing adds what needs HTML.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from curate.readers.files import read_file
from curate.readers.http import BadBody, TooLarge, content_type, decoded_body, split_http
from curate.readers.records import BadRecord, RawRecord, Resume, SkippedRecord
from curate.readers.warc import Truncated, records, warcinfo_field
from curate.web.crawl_images import CrawlImages
from curate.web.sandbox import ExtractTimeout, sandbox

DOCUMENT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


@dataclass
class WebOptions:
    extractor: str = "fallback"
    max_doc_bytes: int = 10_000_000
    timeout_s: float = 0.0  # per page, in a child process (curate.web.sandbox); 0: in process
    modality: str = "text"  # interleaved / image_text: the archive's images too

    def read(
        self,
        raw: IO[bytes],
        path: str,
        reopen: Callable[[], IO[bytes]],
        start: Resume | None = None,
        unit_bytes: int = 0,
    ) -> Iterator:
        """``curate.readers.files.read_file``'s ``web``: this archive's records as documents."""
        return read_warc(raw, path, self, reopen, start, unit_bytes)


def read_records(
    path: str,
    fmt: str = "auto",
    max_doc_bytes: int = 10_000_000,
    start: Resume | None = None,
    unit_bytes: int = 0,
    **options: Any,
) -> Iterator:
    """Every record of one input file of any format, a web archive's pages as documents
    (``start`` and ``unit_bytes``: ``curate.readers.files.read_file``'s); ``options``:
    ``WebOptions``' other fields (extractor, timeout_s, modality)."""
    web = WebOptions(max_doc_bytes=max_doc_bytes, **options)
    return read_file(path, fmt, max_doc_bytes, web.read, start, unit_bytes)


def read_warc(
    raw: IO[bytes],
    path: str,
    options: WebOptions,
    reopen: Callable[[], IO[bytes]] | None = None,
    start: Resume | None = None,
    unit_bytes: int = 0,
) -> Iterator:
    """RawRecord (a document's fields), SkippedRecord or BadRecord for every record, from
    ``start`` or the first (a ``Resume`` between them with ``unit_bytes``, naming the crawl
    read so far). For interleaved documents or image-text pairs, ``reopen()`` gives the
    archive again for a first pass over its images (``curate.web.crawl_images``)."""
    limit = options.max_doc_bytes
    side = None
    if options.modality != "text" and reopen is not None:
        side = _first_pass(reopen, path, options)
    framed = records(raw, path, limit, reopen, start, unit_bytes)
    crawl = start.state.get("crawl") if start is not None else None
    try:
        for item in framed:
            if isinstance(item, Resume):
                yield Resume(item.position, item.offset, {**item.state, "crawl": crawl})
                continue
            position, rtype, headers, content, nbytes = item
            if rtype == "warcinfo":
                crawl = warcinfo_field(content, "isPartOf") or crawl
            try:
                yield _record(position, rtype, headers, content, nbytes, crawl, options, side)
            except TooLarge as e:
                yield BadRecord(position, "too_large", str(e))
            except ExtractTimeout as e:
                yield BadRecord(position, "extract_timeout", str(e))
            except BadBody as e:
                yield BadRecord(position, "body_error", str(e))
            except Exception as e:  # noqa: BLE001 - one page's failure is its own entry
                yield BadRecord(position, "extract_error", f"{type(e).__name__}: {e}"[:500])
    except Truncated as e:
        yield BadRecord(e.position, "read_error", f"{path}: {e}")
    except Exception as e:  # noqa: BLE001 - a broken archive ends here, reported
        yield BadRecord(0, "read_error", f"{path}: {type(e).__name__}: {e}"[:500])


def _first_pass(reopen: Callable[[], IO[bytes]], path: str, options: WebOptions) -> CrawlImages:
    """The archive's image bodies (interleaved) or its pages' alt texts (pairs): only what the
    modality needs is decoded. A record that cannot be read here is reported by the second
    pass."""
    from curate.web.html import decode_html

    side = CrawlImages(options.modality)
    interleaved = options.modality == "interleaved"
    limit = options.max_doc_bytes
    try:
        with reopen() as raw:
            for _, rtype, headers, content, _ in records(raw, path, limit, reopen):
                if rtype not in ("response", "resource"):
                    continue
                try:
                    status, http, body, ctype, charset, _ = _http_parts(
                        rtype, headers, content, limit
                    )
                    url = _uri(headers.get("warc-target-uri"))
                    if status != 200 or not url:
                        continue
                    if interleaved and ctype.startswith("image/"):
                        side.add_image(url, decoded_body(body, http, limit))
                    elif not interleaved and ctype in ("text/html", "application/xhtml+xml"):
                        html, _, _ = decode_html(decoded_body(body, http, limit), charset)
                        side.add_page(url, html)
                except (ValueError, LookupError):
                    continue
    except Exception:  # noqa: BLE001 - a broken archive: the second pass says so
        pass
    return side


_UNTYPED = ("", "application/octet-stream", "unknown/unknown", "binary/octet-stream")
_DECODED = ("content-encoding", "transfer-encoding")  # undone by decoded_body
_HTML_START = re.compile(
    rb"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


def _untyped(ctype: str) -> bool:
    return ctype in _UNTYPED or "/" not in ctype


def _http_parts(rtype: str, headers: dict[str, str], content: bytes, limit: int) -> tuple:
    """(status, HTTP headers, body, content type, charset, where the type came from) of a
    response or resource record: a ``resource`` has no HTTP block, and the HTTP header's content
    type wins over the record's. Servers often send none, or ``application/octet-stream``, for a
    page: then Common Crawl's ``WARC-Identified-Payload-Type`` (its Tika detection), else the
    body's first bytes (``<!doctype html>``, ``<html>``) say what it is. A body sniffed so is
    sniffed decoded (``limit``: ``decoded_body``'s), and returned decoded, with the HTTP headers
    that would decode it again left out."""
    status, http, body = split_http(content) if rtype == "response" else (200, {}, content)
    ctype, charset = content_type(http.get("content-type") or headers.get("content-type") or "")
    source = "http"
    if _untyped(ctype):
        identified = content_type(headers.get("warc-identified-payload-type") or "")[0]
        if not _untyped(identified):
            return status, http, body, identified, charset, "identified"
        if status == 200 and http.get("content-encoding"):
            body = decoded_body(body, http, limit)
            http = {k: v for k, v in http.items() if k not in _DECODED}
        if _HTML_START.match(body[:1024]):
            ctype, source = "text/html", "sniffed"
    return status, http, body, ctype, charset, source


def _record(position, rtype, headers, content, nbytes, crawl, options, side=None) -> Any:
    info = {
        "id": _record_id(headers.get("warc-record-id")),
        "url": _uri(headers.get("warc-target-uri")),
        "warc_type": rtype,
        "crawl": crawl,
    }
    if rtype == "conversion":  # WET: Common Crawl's own text of a page
        if side is not None and side.modality == "image_text":  # no image, no caption
            return SkippedRecord(position, "warc.page", nbytes, info)
        text = content.decode("utf-8", "replace")
        record = _document(position, nbytes, headers, info, text, {"content_type": "text/plain"})
        return side.text_page(record) if side is not None else record
    if rtype not in ("response", "resource"):
        return SkippedRecord(position, f"warc.{rtype}", nbytes, info)
    status, http, body, ctype, charset, type_source = _http_parts(
        rtype, headers, content, options.max_doc_bytes
    )
    info["http_status"] = status
    declared = content_type(headers.get("content-type") or "")[0]
    if status is None and declared and declared != "application/http":
        info["content_type"] = declared  # another protocol's response: Heritrix's dns: records
        return SkippedRecord(position, "warc.not_text", nbytes, info)
    if status != 200:
        return SkippedRecord(position, "warc.http_status", nbytes, info)
    info["content_type"] = ctype
    if side is not None and ctype.startswith("image/"):
        body = decoded_body(body, http, options.max_doc_bytes)
        when = _timestamp(headers.get("warc-date"), http.get("date"))
        return side.image(position, nbytes, info, body, when)
    if ctype not in DOCUMENT_TYPES:
        return SkippedRecord(position, "warc.not_text", nbytes, info)
    body = decoded_body(body, http, options.max_doc_bytes)
    binary = _binary_type(body)
    if binary is not None:  # a PDF or an image sent as text/html: its bytes would be the text
        info.update(content_type=binary, declared_content_type=ctype)
        return SkippedRecord(position, "warc.not_text", nbytes, info)
    if side is not None and side.modality == "image_text":  # the first pass read its alt texts
        return SkippedRecord(position, "warc.page", nbytes, info)
    meta: dict[str, Any] = {"http_status": status, "content_type": ctype}
    if type_source != "http":
        meta["content_type_source"] = type_source
    if headers.get("warc-truncated"):  # a crawler cut a long payload short: a partial page
        meta["warc_truncated"] = headers["warc-truncated"].strip()
    from curate.web.html import decode_html

    if ctype == "text/plain":  # a .txt without a charset is as often Latin-1 as UTF-8
        text, meta["charset"], meta["charset_source"] = decode_html(body, charset, meta=False)
    else:
        from curate.web.html import extract

        html, meta["charset"], meta["charset_source"] = decode_html(body, charset)
        with_images = side is not None  # interleaved
        if options.timeout_s:
            page = sandbox(options.timeout_s).extract(html, options.extractor, with_images)
        else:
            page = extract(html, options.extractor, with_images=with_images)
        text = page.text
        meta.update(title=page.title, html_lang=page.lang, extractor=page.extractor)
        if page.images:
            meta["images"] = page.images
    if http.get("date"):
        meta["http_date"] = http["date"]
    if http.get("content-language"):  # the server's language hint, beside the page's own
        meta["http_content_language"] = http["content-language"][:100]
    record = _document(position, nbytes, headers, info, text, meta)
    return side.page(record) if side is not None else record


_MAGIC = (  # formats servers send with a text type, by their first bytes
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b\x08", "application/gzip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # .doc, .xls
    (b"OggS", "audio/ogg"),
    (b"ID3\x03\x00", "audio/mpeg"),  # ID3v2.3 and v2.4, with the version bytes: a text may
    (b"ID3\x04\x00", "audio/mpeg"),  # start with "ID3"
    (b"\x00asm", "application/wasm"),
)


def _binary_type(body: bytes) -> str | None:
    """The type a body's magic number names, for bodies that are no text (text never starts
    with these bytes); RIFF (WebP, WAV, AVI) and ISO media (MP4) by their brand."""
    head = body[:16]
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}[head[8:12]]
    if head[4:8] == b"ftyp":
        return "video/mp4"
    return None


def _document(position, nbytes, headers, info, text, meta) -> RawRecord:
    """A document's fields: the record's id, URL and crawl (``info``, as a skipped record
    names them), its text and what ``meta`` says of the page."""
    value = {
        "id": info["id"],
        "text": text,
        "timestamp": _timestamp(headers.get("warc-date"), meta.get("http_date")),
        "url": info["url"],
        "source": info["crawl"],
        "crawl": info["crawl"],
        **{k: v for k, v in meta.items() if v is not None},
    }
    if headers.get("warc-identified-content-language"):
        value["crawl_languages"] = headers["warc-identified-content-language"]
    return RawRecord(position, value, nbytes)


def _uri(value: str | None) -> str | None:
    """WARC/1.0 writers (wget) put the target URI in angle brackets."""
    return value.strip().removeprefix("<").removesuffix(">") if value else None


def _record_id(value: str | None) -> str | None:
    return _uri(value).removeprefix("urn:uuid:") if value else None


def _timestamp(warc_date: str | None, http_date: str | None) -> str | None:
    """``WARC-Date``; when it cannot be read (ClueWeb09 writes ``2008-10-294T...``), the HTTP
    ``Date`` of the response."""
    from curate.core.timeparse import TimestampError, parse_timestamp_us

    if warc_date:
        try:
            parse_timestamp_us(warc_date)
            return warc_date
        except (TimestampError, ValueError):
            pass
    if http_date:
        from email.utils import parsedate_to_datetime

        try:
            return parsedate_to_datetime(http_date).isoformat()
        except (TypeError, ValueError):
            pass
    return warc_date
