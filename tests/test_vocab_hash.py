"""tokenizer_hash: one identity for a tokenizer however it was loaded, another for another tokenizer."""

from __future__ import annotations

import json

from tokrex.corpus import load_tokenizer, tokenizer_hash


def test_hash_is_the_same_however_the_tokenizer_is_loaded(gpt2_tokenizer_dir, gpt2_model_dir):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    expected = tokenizer_hash(load_tokenizer(gpt2_tokenizer_dir))
    assert len(expected) == 64 and int(expected, 16) >= 0
    assert tokenizer_hash(Tokenizer.from_file(str(gpt2_tokenizer_dir / "tokenizer.json"))) == expected
    assert tokenizer_hash(str(gpt2_tokenizer_dir / "tokenizer.json")) == expected
    assert tokenizer_hash(AutoTokenizer.from_pretrained(gpt2_model_dir)) == expected  # the model's own tokenizer


def test_hash_ignores_merge_spelling_but_not_content(gpt2_tokenizer_dir, bert_model_dir, tmp_path):
    spec = json.loads((gpt2_tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    expected = tokenizer_hash(str(gpt2_tokenizer_dir / "tokenizer.json"))
    as_strings = dict(spec, model=dict(spec["model"], merges=[" ".join(m) for m in spec["model"]["merges"]]))
    (tmp_path / "a.json").write_text(json.dumps(as_strings), encoding="utf-8")
    assert tokenizer_hash(str(tmp_path / "a.json")) == expected

    vocab = dict(spec["model"]["vocab"])
    a, b = sorted(vocab, key=vocab.get)[10:12]
    vocab[a], vocab[b] = vocab[b], vocab[a]  # two ids swapped: another tokenizer
    (tmp_path / "b.json").write_text(json.dumps(dict(spec, model=dict(spec["model"], vocab=vocab))), encoding="utf-8")
    assert tokenizer_hash(str(tmp_path / "b.json")) != expected
    assert tokenizer_hash(str(bert_model_dir)) != expected
