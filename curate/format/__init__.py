"""The on-disk corpus, with one owner: the shard schema (``schema``), the manifest's shape and
its safety checks (``manifest``: relative paths inside the corpus, sizes, checksums), the
reports a build writes last (``stats``: stats.json and its balance; ``reports``: the manifest
and data card), one shard file read and checked against its entry (``shard``), and
``curate verify`` (``verify``). The build writes this format; the loader, ``verify`` and
``drift`` read it through these modules, local or remote."""
