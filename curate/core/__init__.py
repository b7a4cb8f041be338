"""The small pieces every wing shares, and the only part of curate that ``filters/`` and
``tokenization/`` import: the ``Document`` record and its keys (``document``), time parsing
(``timeparse``), text normalization and word splitting (``normalize``, ``words``), image
validation (``images``), fastText classifiers (``classifier``), atomic checksummed writes
through Beam's FileSystems (``fileio``), memory trimming (``memory``), the errors a command
reports (``errors``) and what a person at the terminal sees (``console``)."""
