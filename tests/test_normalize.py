import unicodedata

from curate.core.normalize import normalize_text


def test_nfc_and_spaces():
    decomposed = unicodedata.normalize("NFD", "café naïve")
    assert normalize_text(decomposed) == "café naïve"
    assert normalize_text("a\u00a0b\u3000c") == "a b c"


def test_controls_newlines_and_blank_runs():
    raw = "  Title \r\n\r\n\r\n\r\nBody\x00 text\x07 here.\t \nEnd\u200b.  "
    assert normalize_text(raw) == "Title\n\nBody text here.\nEnd."


def test_reflowed_copies_normalize_equal():
    a = "Para one.\n\nPara two."
    b = "Para one.  \r\n\r\n\r\nPara two.  "
    assert normalize_text(a) == normalize_text(b)
