"""Input files as byte streams: opened raw through Beam's FileSystems (so ``gs://`` and
``s3://`` work) and decompressed here, because Beam's own gzip reader stops silently at a
truncated stream. Every decompressor raises on a cut-off stream, and zstd's memory is bounded
whatever the input."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import IO

import zstandard

CHUNK = 1 << 20
# what a broken compressed stream raises: zlib.error is not an OSError (found by fuzzing)
STREAM_ERRORS = (EOFError, OSError, zlib.error, zstandard.ZstdError, lzma.LZMAError)


def open_raw(path: str) -> IO[bytes]:
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


_ZSTD_FEED = 1024  # compressed bytes per decompress call: a zstd block (>= 4 bytes) expands to
# at most 128 KB, so one call yields at most 32 MB whatever the input (bombs stay bounded)


class ZstdReader(io.RawIOBase):
    """Streaming zstd that raises on a truncated frame (zstandard's stream_reader does not)
    and bounds its memory: input is fed in small pieces, never a whole bomb at once."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._buf = b""
        self._pending = b""
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            if not self._pending:
                self._pending = self._raw.read(CHUNK)
                if not self._pending:
                    if self._in_frame:
                        raise EOFError("zstd stream ended before the end of its frame (truncated)")
                    return 0
            piece, self._pending = self._pending[:_ZSTD_FEED], self._pending[_ZSTD_FEED:]
            self._feed(piece)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def _feed(self, chunk: bytes) -> None:
        while chunk:
            self._in_frame = True
            self._buf += self._obj.decompress(chunk)
            if not self._obj.eof:
                return
            chunk = self._obj.unused_data
            self._obj = self._dctx.decompressobj()
            self._in_frame = False


def decompressed(raw: IO[bytes], path: str) -> IO[bytes]:
    name = path.lower()
    if name.endswith((".gz", ".tgz")):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name.endswith(".zst") or name.endswith(".zstd"):
        return io.BufferedReader(ZstdReader(raw), buffer_size=CHUNK)
    if name.endswith(".bz2"):  # Wikipedia's dumps; both raise EOFError on a cut stream
        return bz2.BZ2File(raw, mode="rb")
    if name.endswith(".xz"):
        return lzma.LZMAFile(raw, mode="rb")
    return raw
