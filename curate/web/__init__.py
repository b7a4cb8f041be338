"""Web crawls as input: WARC, WET and ARC records to documents, HTML to main-content text."""
