"""Compile the shipped URL block lists from the package that distributes them
(``make url-lists``).

``ut1_fineweb``: the UT1 blacklist (Université Toulouse 1 Capitole, CC BY-SA 4.0) as
DataTrove's wheel on PyPI ships it for FineWeb's URL filter (several UT1 categories merged), in
``datatrove/assets/url_filterblacklistsv0_3_0.tar.gz``: one ``domains`` and one ``urls`` file.
The domains become sorted 64-bit hashes (``filters.url.HostSet``: 36 MB for 4.6M domains,
which take 509 MB as a Python set of strings); the URLs stay text, normalized.
``fineweb_url_words``: the word lists beside it (``filters.url.UrlWords``). The wheel is a zip
read in place: DataTrove is never installed, so none of its dependencies enter curate's
environment.

    python -m filters.url_lists DATATROVE_WHEEL [OUT_DIR]
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from curate.core.fileio import write_bytes
from filters.url import (
    LISTS_DIR,
    HostSet,
    entry_lines,
    normalize_url,
    split_entries,
    url_words_key,
)

MEMBER = "datatrove/assets/url_filterblacklistsv0_3_0.tar.gz"
WORD_LISTS = {  # FineWeb's URL word rules, beside it in the wheel
    "banned": "datatrove/assets/banned_words.txt",
    "soft": "datatrove/assets/soft_banned_words.txt",
    "subwords": "datatrove/assets/banned_subwords.txt",
}
NOTICE = """# UT1 blacklist (shipped URL list `ut1_fineweb`)

`ut1_fineweb.hosts.npy` (64-bit xxh3 hashes of the normalized domains, sorted) and
`ut1_fineweb.urls.txt` (normalized URL prefixes) are compiled by `make url-lists` from the UT1
blacklist as the DataTrove package (Apache-2.0, https://pypi.org/project/datatrove/) ships it in
`{member}`.

The UT1 blacklist is made by Fabrice Prigent, Université Toulouse 1 Capitole
(https://dsi.ut-capitole.fr/blacklists/), and licensed under the Creative Commons
Attribution-ShareAlike 4.0 International license
(https://creativecommons.org/licenses/by-sa/4.0/). These two files are an adaptation of it
(entries normalized, domains hashed) and are shared under the same license.

`fineweb_url_words.json` holds the word lists of DataTrove's URL filter (FineWeb's), from
the same wheel (`datatrove/assets/banned_words.txt`, `soft_banned_words.txt`,
`banned_subwords.txt`; Apache-2.0), each entry reduced to its letters and digits.

Compiled from {wheel}: {domains:,} domains, {urls:,} URL prefixes.
"""


def compile_ut1(
    wheel: str | Path, out_dir: str | Path = LISTS_DIR, name: str = "ut1_fineweb"
) -> tuple[int, int]:
    """Write ``NAME.hosts.npy``, ``NAME.urls.txt``, ``fineweb_url_words.json`` and the license
    notice, each atomically; return the numbers of domains and URL prefixes."""
    with zipfile.ZipFile(wheel) as zf:
        packed = zf.read(MEMBER)
        words = {
            key: sorted({url_words_key(w) for w in _entries(zf.read(member))} - {""})
            for key, member in WORD_LISTS.items()
        }
    lines: dict[str, list[str]] = {}
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
        for member in tar.getmembers():
            base = os.path.basename(member.name)
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None and base in ("domains", "urls"):
                lines[base] = _entries(f.read())
    if not lines.get("domains"):
        raise ValueError(f"{wheel}: {MEMBER} holds no domains file")
    hosts, prefixes = split_entries(lines["domains"])
    urls = sorted({normalize_url(p)[1] for p in [*lines.get("urls", []), *prefixes]})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hashed = HostSet.of(hosts).hashes
    npy = io.BytesIO()
    np.save(npy, hashed)
    notice = NOTICE.format(
        member=MEMBER, wheel=Path(wheel).name, domains=len(hashed), urls=len(urls)
    )
    for file, data in (
        (f"{name}.hosts.npy", npy.getvalue()),
        (f"{name}.urls.txt", "".join(u + "\n" for u in urls).encode()),
        ("fineweb_url_words.json", json.dumps(words).encode()),
        (f"NOTICE-{name}.md", notice.encode()),
    ):
        write_bytes(str(out / file), data)
    return len(hashed), len(urls)


def _entries(data: bytes) -> list[str]:
    return entry_lines(data.decode("utf-8", "replace").splitlines())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    domains, urls = compile_ut1(*args)
    print(f"ut1_fineweb: {domains:,} domains, {urls:,} URL prefixes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
