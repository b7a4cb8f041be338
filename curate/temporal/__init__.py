"""Time, the corpus's axis: the ``temporal:`` config section (``config``) and the rules that
cut a corpus into splits and periods (``rules``). It stands on ``curate.core`` alone, below the
format and the build, so that the build, the corpus format, the loader and the drift report
apply the same rules."""
