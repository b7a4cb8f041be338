"""The HTTP block of a WARC response: status and headers split leniently (ClueWeb separates
headers with bare newlines), the content type and charset, and the body decoded: chunked
transfer and gzip, deflate, Brotli and zstd content encodings undone, each only when the bytes
are what the header says, and never past a byte limit."""

from __future__ import annotations

import re
import zlib

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
HEAD_LIMIT = 65536  # an HTTP header block longer than this is not one


class TooLarge(ValueError):
    """A body over the limit, or one that would expand past it."""


class BadBody(ValueError):
    """A compressed body that does not inflate."""


def split_http(content: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """Status, lower-cased headers and body of an HTTP response block."""
    m = _BLANK_LINE.search(content, 0, HEAD_LIMIT)
    if not content.startswith(b"HTTP/") or m is None:
        return None, {}, content
    lines = content[: m.start()].decode("latin-1").splitlines()
    parts = lines[0].split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            headers[key.strip().lower()] = value.strip()
    return status, headers, content[m.end() :]


def content_type(value: str) -> tuple[str, str | None]:
    main, *params = value.split(";")
    charset = None
    for p in params:
        key, _, v = p.partition("=")
        if key.strip().lower() == "charset":
            charset = v.strip().strip("\"'") or None
    return main.strip().lower(), charset


def decoded_body(body: bytes, http: dict[str, str], limit: int) -> bytes:
    """Chunked transfer and gzip, deflate, Brotli and zstd content encodings undone, each only
    when the bytes are what the header says (crawlers often store bodies already decoded),
    never past ``limit`` bytes: a small compressed body that expands without bound is refused.
    Browser-based crawlers (Browsertrix, webrecorder) store what the server sent, often ``br``."""
    if len(body) > limit:
        raise TooLarge(f"body of {len(body)} bytes or more is over the limit of {limit}")
    if "chunked" in http.get("transfer-encoding", "").lower():
        body = _dechunked(body)
    encoding = http.get("content-encoding", "").lower()
    if encoding in ("gzip", "x-gzip") and body[:2] == b"\x1f\x8b":
        body = _inflate(body, zlib.MAX_WBITS | 16, limit)
    elif encoding == "deflate" and body:
        try:
            body = _inflate(body, zlib.MAX_WBITS, limit)
        except BadBody:
            body = _inflate(body, -zlib.MAX_WBITS, limit)
    elif encoding == "br" and body:
        body = _unbrotli(body, limit)
    elif encoding == "zstd" and body[:4] == b"\x28\xb5\x2f\xfd":
        body = _unzstd(body, limit)
    return body


def _unbrotli(data: bytes, limit: int) -> bytes:
    """Brotli has no magic number: a body whose first bytes are no Brotli stream was stored
    decoded (HTML fails at once); one that fails later, or stops short, is broken."""
    import brotli  # FastWARC's own dependency

    try:
        brotli.Decompressor().process(data[:64], output_buffer_limit=1)
    except brotli.error:
        return data  # not Brotli at all
    d = brotli.Decompressor()
    try:
        out = d.process(data, output_buffer_limit=limit + 1)
        while len(out) <= limit and not d.can_accept_more_data():
            out += d.process(b"", output_buffer_limit=limit + 1 - len(out))
    except brotli.error as e:
        raise BadBody(f"br body does not decompress: {e}") from None
    if len(out) > limit:
        raise TooLarge(f"compressed body expands past the limit of {limit} bytes")
    if not d.is_finished():
        raise BadBody("br body ends before the end of its stream (truncated)")
    return out


def _unzstd(data: bytes, limit: int) -> bytes:
    import io

    import zstandard

    from curate.readers.streams import ZstdReader  # raises on a cut-off frame, memory bounded

    try:
        out = io.BufferedReader(ZstdReader(io.BytesIO(data))).read(limit + 1)
    except (zstandard.ZstdError, EOFError) as e:
        raise BadBody(f"zstd body does not decompress: {e}") from None
    if len(out) > limit:
        raise TooLarge(f"compressed body expands past the limit of {limit} bytes")
    return out


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise BadBody(f"{_encoding_name(wbits)} body does not inflate: {e}") from None
    if len(out) > limit:
        raise TooLarge(f"compressed body expands past the limit of {limit} bytes")
    return out


def _encoding_name(wbits: int) -> str:
    return "gzip" if wbits > zlib.MAX_WBITS else "deflate"


def _dechunked(body: bytes) -> bytes:
    """The chunks of a chunked body joined; the body as stored if it is not chunked."""
    out, i = [], 0
    while i < len(body):
        end = body.find(b"\n", i)
        if end < 0:
            return body
        size_field = body[i:end].split(b";")[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            return body
        if size == 0:
            break
        out.append(body[end + 1 : end + 1 + size])
        i = end + 1 + size
        while i < len(body) and body[i : i + 1] in (b"\r", b"\n"):
            i += 1
    return b"".join(out)
