"""Input formats, the wing that the build and web extraction stand on: an input file to its
records (``files``), by format (``jsonl``, ``parquet``, ``webdataset``; web archives framed by
``warc``, their HTTP blocks split and decoded by ``http``), the record types every reader
yields (``records``), byte streams opened and decompressed (``streams``), and the ``input:``
section of a build config (``config``)."""
