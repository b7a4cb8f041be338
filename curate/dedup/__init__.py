"""Deduplication: exact (normalized text or decoded pixels) and near (MinHash-LSH for text,
``minhash``; perceptual hashes for images, ``perceptual``), behind one signature protocol;
per-file signature and band tables in the work directory (``signatures``), connected
components over duplicate edges (``components``), survivors and removals (``clusters``), and
repeated lines or paragraphs (``lines``). Pure numpy on arrays: the pipeline moves them."""
