"""The build wing: a config and input files to a finished corpus.

``driver`` (``run_build``) checks the inputs (``inputs``) and the output directory
(``output_dir``, ``lease``), trains or loads the tokenizer and runs the Beam pipeline of
``pipelines/build.py`` into a staging folder, then checks and publishes it. The pipeline's
stages call into ``readers`` and ``parse`` (records to documents), ``process`` (filters,
tokenization, runs and dedup tables per input file), ``temporal`` (splits and periods),
``shards`` (runs merged into shards) and ``report`` (stats, manifest, data card); ``config``
is the validated YAML, ``progress`` what the driver shows while it runs.
"""
