"""Opening a corpus store: lazy arrays, helpers, and one clear sentence for every broken store."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import TEXTS
from corpus_fixtures import gpt2_store  # noqa: F401
from tokrex.corpus import open_corpus, tokenizer_hash
from tokrex.errors import CorpusError


@pytest.fixture
def store_copy(tmp_path, gpt2_store):
    dest = tmp_path / "store"
    shutil.copytree(gpt2_store, dest)
    return dest


def test_arrays_load_lazily_and_agree(gpt2_store):
    c = open_corpus(gpt2_store)
    assert "ids" not in c.__dict__ and "vocab" not in c.__dict__
    ids, offsets = c.ids, c.doc_offsets
    assert c.ids is ids and not ids.flags.writeable
    assert offsets.dtype == np.int64 and offsets.shape == (c.n_docs + 1,) and offsets[0] == 0 and offsets[-1] == c.n_tokens
    assert np.all(np.diff(offsets) > 0)
    assert c.vocab.size == 600 and int(ids.max()) < c.vocab.size


def test_locate_and_text(gpt2_store):
    c = open_corpus(gpt2_store)
    d = 3
    start = int(c.doc_offsets[d])
    doc, pos = c.locate(np.array([start, start + 2, c.n_tokens - 1]))
    assert doc.tolist() == [d, d, c.n_docs - 1] and pos.tolist()[:2] == [0, 2]
    assert c.text(c.doc_tokens(d)) == TEXTS[d]
    with pytest.raises(CorpusError, match="out of range"):
        c.doc_tokens(c.n_docs)


def test_stored_tokenizer_is_the_same_tokenizer(gpt2_store, gpt2_tokenizer_dir, bert_model_dir):
    c = open_corpus(gpt2_store)
    tok = c.load_tokenizer()
    assert tokenizer_hash(tok) == c.tokenizer_hash == tokenizer_hash(str(gpt2_tokenizer_dir))
    assert c.decode(c.doc_tokens(0)) == TEXTS[0]
    c.check_tokenizer(str(gpt2_tokenizer_dir))
    with pytest.raises(CorpusError, match="built with another tokenizer than the model"):
        c.check_tokenizer(str(bert_model_dir))


def test_info(gpt2_store):
    info = open_corpus(gpt2_store).info()
    assert info["n_docs"] == len(TEXTS) and info["vocab_size"] == 600 and info["token_dtype"] == "uint16"
    assert info["size_bytes"] == sum(p.stat().st_size for p in gpt2_store.rglob("*") if p.is_file())


def _edit_manifest(store, **changes):
    m = json.loads((store / "manifest.json").read_text())
    m.update(changes)
    (store / "manifest.json").write_text(json.dumps(m))


def test_missing_store(tmp_path):
    with pytest.raises(CorpusError, match=r"^No corpus store at .*nowhere; build one with `tokrex corpus build"):
        open_corpus(tmp_path / "nowhere")


def test_not_a_store(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(CorpusError, match="is not a tokrex corpus store \\(it has no manifest.json\\)"):
        open_corpus(tmp_path / "d")
    (tmp_path / "f").write_text("x")
    with pytest.raises(CorpusError, match="is not a tokrex corpus store"):
        open_corpus(tmp_path / "f")


def test_other_format_and_version(store_copy):
    _edit_manifest(store_copy, version=2)
    with pytest.raises(CorpusError, match="format version 2, but this tokrex reads version 1; rebuild it"):
        open_corpus(store_copy)
    _edit_manifest(store_copy, version=1, format="something-else")
    with pytest.raises(CorpusError, match="is of another format"):
        open_corpus(store_copy)


def test_corrupt_manifest(store_copy):
    (store_copy / "manifest.json").write_text('{"format": "tokrex-corpus", "vers')
    with pytest.raises(CorpusError, match="The manifest of .* is corrupt"):
        open_corpus(store_copy)
    (store_copy / "manifest.json").write_text('{"format": "tokrex-corpus", "version": 1}')
    with pytest.raises(CorpusError, match="incomplete or corrupt"):
        open_corpus(store_copy)


def test_truncated_tokens_file(store_copy):
    data = (store_copy / "tokens.parquet").read_bytes()
    (store_copy / "tokens.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusError, match="tokens.parquet is corrupt or truncated .*; rebuild it with"):
        open_corpus(store_copy)


def test_missing_and_mismatched_files(store_copy):
    n_tokens = open_corpus(store_copy).n_tokens
    _edit_manifest(store_copy, n_tokens=5)
    with pytest.raises(CorpusError, match="tokens.parquet holds .* rows but the manifest says 5"):
        open_corpus(store_copy)
    _edit_manifest(store_copy, n_tokens=n_tokens)
    (store_copy / "docs.parquet").unlink()
    with pytest.raises(CorpusError, match="is incomplete: docs.parquet is missing; rebuild it"):
        open_corpus(store_copy)


def test_corrupt_page_is_reported_when_ids_load(store_copy):
    c = open_corpus(store_copy)
    path = store_copy / "tokens.parquet"
    data = bytearray(path.read_bytes())
    for i in range(8, 40):  # scramble the first data page, keep the footer
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match="tokens.parquet"):
        c.ids
