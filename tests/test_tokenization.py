import json

import numpy as np
import pytest

from tests.conftest import evaldata
from tokenization.bpe import Encoder, TokenizerError, load_tokenizer, train_bpe


def _texts(n=300):
    path = evaldata("prose/prose.jsonl")
    return [json.loads(line)["text"] for line in path.open()][:n]


def test_training_is_deterministic_and_round_trips(tmp_path):
    texts = _texts()
    a, b = train_bpe(texts, 3000), train_bpe(texts, 3000)
    assert a.to_str() == b.to_str()
    enc = Encoder(a, "<|endoftext|>")
    assert enc.eos_id == 0 and enc.vocab_size == 3000
    ids = enc.encode_batch(texts[:50])
    for text, arr in zip(texts[:50], ids, strict=True):
        assert arr.dtype == np.uint32 and arr[-1] == 0
        assert a.decode(arr[:-1].tolist()) == text


def test_load_from_file_and_missing_eos(tmp_path):
    tok = train_bpe(_texts(100), 1000)
    p = tmp_path / "tokenizer.json"
    p.write_text(tok.to_str())
    loaded = load_tokenizer(str(p))
    assert loaded.encode("Emma Woodhouse").ids == tok.encode("Emma Woodhouse").ids
    with pytest.raises(TokenizerError, match="not in the tokenizer"):
        Encoder(loaded, "</s>")
    p.write_text("{not json")
    with pytest.raises(TokenizerError):
        load_tokenizer(str(p))
