"""Web crawls, standing on the input formats (``curate.readers``, which frames the archives):
an archive's records to documents (``documents``), HTML to main-content text (``html``), in a
child process with a time limit when asked (``sandbox``), and a crawl's images for interleaved
documents and image-text pairs (``crawl_images``)."""
