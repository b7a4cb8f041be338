"""Compile the shipped URL block list from the package that distributes it (``make url-lists``).

``ut1_adult``: the UT1 blacklist (Université Toulouse 1 Capitole, CC BY-SA 4.0) as DataTrove's
wheel on PyPI ships it for FineWeb's URL filter: ``datatrove/assets/url_filterblacklistsv0_3_0
.tar.gz`` with one ``domains`` and one ``urls`` file. The domains become sorted 64-bit hashes
(``filters.url.HostSet``, 36 MB for 4.6M domains where the strings take 509 MB in a
Python set); the URLs stay text, normalized. The wheel is a zip read in place: DataTrove is
never installed, so none of its dependencies enter curate's environment.

    python -m filters.url_lists DATATROVE_WHEEL [OUT_DIR]
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from filters.url import LISTS_DIR, HostSet, domain_entry, normalize_url

MEMBER = "datatrove/assets/url_filterblacklistsv0_3_0.tar.gz"
NOTICE = """# UT1 blacklist (shipped URL list `ut1_adult`)

`ut1_adult.hosts.npy` (64-bit xxh3 hashes of the normalized domains, sorted) and
`ut1_adult.urls.txt` (normalized URL prefixes) are compiled by `make url-lists` from the UT1
blacklist as the DataTrove package (Apache-2.0, https://pypi.org/project/datatrove/) ships it in
`{member}`.

The UT1 blacklist is made by Fabrice Prigent, Université Toulouse 1 Capitole
(https://dsi.ut-capitole.fr/blacklists/), and licensed under the Creative Commons
Attribution-ShareAlike 4.0 International license
(https://creativecommons.org/licenses/by-sa/4.0/). These two files are an adaptation of it
(entries normalized, domains hashed) and are shared under the same license.

Compiled from {wheel}: {domains:,} domains, {urls:,} URL prefixes.
"""


def compile_ut1(wheel: str | Path, out_dir: str | Path = LISTS_DIR, name: str = "ut1_adult"):
    """Write ``NAME.hosts.npy``, ``NAME.urls.txt`` and the license notice; each file written
    whole, then moved into place."""
    with zipfile.ZipFile(wheel) as zf:
        packed = zf.read(MEMBER)
    lines: dict[str, list[str]] = {}
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
        for member in tar.getmembers():
            base = os.path.basename(member.name)
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None and base in ("domains", "urls"):
                text = f.read().decode("utf-8", "replace")
                lines[base] = [ln.strip() for ln in text.splitlines() if _entry(ln)]
    if not lines.get("domains"):
        raise ValueError(f"{wheel}: {MEMBER} holds no domains file")
    hosts, prefixes = set(), set(lines.get("urls", []))
    for entry in lines["domains"]:
        host, is_url = domain_entry(entry)
        if is_url:
            prefixes.add(host)
        elif host:
            hosts.add(host)
    urls = sorted({normalize_url(p)[1] for p in prefixes})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hashed = HostSet.of(hosts).hashes
    _atomic(out / f"{name}.hosts.npy", lambda f: np.save(f, hashed))
    _atomic(out / f"{name}.urls.txt", lambda f: f.write("".join(u + "\n" for u in urls).encode()))
    notice = NOTICE.format(
        member=MEMBER, wheel=Path(wheel).name, domains=len(hashed), urls=len(urls)
    )
    _atomic(out / f"NOTICE-{name}.md", lambda f: f.write(notice.encode()))
    return len(hashed), len(urls)


def _entry(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#")


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    domains, urls = compile_ut1(*args)
    print(f"ut1_adult: {domains:,} domains, {urls:,} URL prefixes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
