"""The build driver, between the command line and the Beam pipeline: the config file read
(``config_file``), the input files listed (``input_files``), the output directory leased
(``lease``) and checked (``output_dir``), the tokenizer trained or loaded (``tokenizer``), the
pipeline of ``pipelines/build.py`` run into a staging folder (``run``), and the corpus checked
and published (``build``; an append: ``append``), with its progress shown (``progress``).
Nothing below it imports it."""
