"""The build's stages, the pure-Python work that ``pipelines/`` wires into Beam: the build's
config assembled from every wing's section (``config``), records to documents (``parse``), the
keep/remove decision (``screen``), per-input-file work (``process``: filters, tokenization,
sorted runs and dedup tables, spilled by ``spill``), runs merged into shards (``shards``) and
the markers workers leave for the driver's progress (``markers``). Dedup and decontamination
are stage wings of their own (``curate.dedup``, ``curate.decontam``)."""
