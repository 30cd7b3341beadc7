"""Fixtures for the corpus store and `tokrex match` tests: small stores and extra tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TEXTS


def build(inputs, tokenizer, store, **kw):
    from tokrex.corpus import CorpusConfig, build_corpus

    return build_corpus(CorpusConfig(inputs=list(inputs), tokenizer=str(tokenizer), store=Path(store), progress=False, **kw))


@pytest.fixture(scope="session")
def gpt2_store(tmp_path_factory, gpt2_tokenizer_dir, text_files) -> Path:
    """A store of the eight inline texts (one .txt per document) with the GPT-2-style tokenizer."""
    store = tmp_path_factory.mktemp("stores") / "gpt2"
    build(text_files, gpt2_tokenizer_dir, store)
    return store


@pytest.fixture(scope="session")
def jsonl_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("jsonl") / "docs.jsonl"
    lines = [json.dumps({"id": i, "body": t, "text": t}) for i, t in enumerate(TEXTS[:4])]
    p.write_text("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n", encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def parquet_file(tmp_path_factory) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path_factory.mktemp("parquet") / "docs.parquet"
    pq.write_table(pa.table({"text": TEXTS[4:], "n": list(range(4))}), p)
    return p


def metaspace_tokenizer():
    """A SentencePiece-style (Metaspace, byte fallback) Unigram tokenizer built by hand."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    specials = ["<unk>", "<s>", "</s>"]
    byte_pieces = [f"<0x{b:02X}>" for b in range(256)]
    words = ["▁Hello", "▁world", "▁the", "▁Mass", "ach", "usetts", "▁", "▁▁", "s", "ing", ",", ".", "H", "e", "l", "o", "w", "r", "d", "t", "h"]
    vocab = [(p, 0.0) for p in specials] + [(p, -5.0) for p in byte_pieces] + [(w, -1.0 - i / 10) for i, w in enumerate(words)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens(specials)
    return tok


@pytest.fixture(scope="session")
def metaspace_tokenizer_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("spm") / "tokenizer.json"
    metaspace_tokenizer().save(str(p))
    return p

