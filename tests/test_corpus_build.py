"""Building a corpus store: inputs, numbering, no special tokens, dtypes, refusal, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import TEXTS
from corpus_fixtures import build, gpt2_store, jsonl_file, metaspace_tokenizer_file, parquet_file  # noqa: F401
from tokrex.corpus import open_corpus
from tokrex.corpus.build import token_dtype
from tokrex.errors import CorpusError


def _encode(tokenizer_json: Path, text: str) -> list[int]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.encode_special_tokens = True
    return tok.encode(text, add_special_tokens=False).ids


def test_txt_store_holds_each_document_in_order(gpt2_store, gpt2_tokenizer_dir, text_files):
    c = open_corpus(gpt2_store)
    assert (c.n_docs, c.manifest["token_dtype"], c.ids.dtype) == (len(TEXTS), "uint16", np.uint16)
    for d, text in enumerate(TEXTS):
        assert c.doc_tokens(d).tolist() == _encode(gpt2_tokenizer_dir / "tokenizer.json", text)
        assert c.text(c.doc_tokens(d)) == text
    assert c.n_tokens == len(c.ids) == c.doc_offsets[-1]
    docs = c.docs().to_pylist()
    assert [r["doc"] for r in docs] == list(range(len(TEXTS)))
    assert [r["source"] for r in docs] == [str(p) for p in text_files]


def test_manifest(gpt2_store, gpt2_tokenizer_dir):
    m = json.loads((gpt2_store / "manifest.json").read_text())
    assert (m["format"], m["version"]) == ("tokrex-corpus", 1)
    assert m["tokenizer"]["name"] == str(gpt2_tokenizer_dir.resolve())
    assert m["tokenizer"]["vocab_size"] == 600 and len(m["tokenizer"]["hash"]) == 64
    assert {"n_docs", "n_tokens", "token_dtype", "created", "tokrex_version", "content_hash"} <= set(m)
    assert (gpt2_store / "tokenizer" / "tokenizer.json").is_file()


def test_mixed_inputs_number_documents_in_argument_order(tmp_path, gpt2_tokenizer_dir, jsonl_file, parquet_file, text_files):
    c = build([text_files[0], jsonl_file, parquet_file], gpt2_tokenizer_dir, tmp_path / "s")
    expected = [TEXTS[0], *TEXTS[:4], *TEXTS[4:]]  # the .jsonl's blank line is no document
    assert c.n_docs == len(expected)
    assert [c.text(c.doc_tokens(d)) for d in range(c.n_docs)] == expected
    docs = c.docs().to_pylist()
    assert [(Path(r["source"]).suffix, r["source_index"]) for r in docs] == [
        (".txt", 0), (".jsonl", 0), (".jsonl", 1), (".jsonl", 3), (".jsonl", 4), *((".parquet", i) for i in range(4))
    ]


def test_text_field(tmp_path, gpt2_tokenizer_dir):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"body": "Alice met Bob.", "text": "other"}) + "\n", encoding="utf-8")
    c = build([p], gpt2_tokenizer_dir, tmp_path / "s", text_field="body")
    assert c.text(c.ids) == "Alice met Bob."


def test_special_tokens_are_never_stored(tmp_path, gpt2_tokenizer_dir, bert_model_dir):
    p = tmp_path / "d.txt"
    p.write_text("Hello <|endoftext|> [CLS] world [SEP]", encoding="utf-8")
    c = build([p], gpt2_tokenizer_dir, tmp_path / "g")
    assert 0 not in c.ids.tolist()  # <|endoftext|>
    assert c.text(c.ids) == "Hello <|endoftext|> [CLS] world [SEP]"
    b = build([p], bert_model_dir, tmp_path / "b")
    specials = {b.vocab.piece.index(s) for s in ("[CLS]", "[SEP]", "[PAD]", "[MASK]")}
    assert not specials & set(b.ids.tolist())
    assert b.n_tokens > 4


def test_metaspace_tokenizer_file(tmp_path, metaspace_tokenizer_file):
    p = tmp_path / "d.txt"
    p.write_text("Hello world", encoding="utf-8")
    c = build([p], metaspace_tokenizer_file, tmp_path / "s")
    assert c.manifest["tokenizer"]["family"] == "metaspace"
    assert [c.vocab.surface[i] for i in c.ids] == [" Hello", " world"]


def test_uint32_for_large_vocabularies(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    assert (token_dtype(256), token_dtype(257)) == ("uint8", "uint16")
    assert (token_dtype(65536), token_dtype(65537)) == ("uint16", "uint32")
    vocab = {f"w{i}": i for i in range(70_000)}
    vocab["[UNK]"] = 70_000
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    p = tmp_path / "d.txt"
    p.write_text("w1 w69999 w5", encoding="utf-8")
    c = build([p], tmp_path / "tokenizer.json", tmp_path / "s")
    assert c.manifest["token_dtype"] == "uint32" and c.ids.dtype == np.uint32
    assert c.ids.tolist() == [1, 69_999, 5]
    assert c.vocab.family == "plain" and c.vocab.surface[5] == "w5"


def test_uint8_for_tiny_vocabularies(tmp_path):
    """The narrowest type that fits: a vocabulary of at most 256 entries stores one byte per token."""
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {f"w{i}": i for i in range(255)}
    vocab["[UNK]"] = 255
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    p = tmp_path / "d.txt"
    p.write_text("w1 w254 zzz w5", encoding="utf-8")
    c = build([p], tmp_path / "tokenizer.json", tmp_path / "s")
    assert c.manifest["token_dtype"] == "uint8" and c.ids.dtype == np.uint8
    assert str(pq.read_schema(tmp_path / "s" / "tokens.parquet").field("id").type) == "uint8"
    assert c.ids.tolist() == [1, 254, 255, 5]
    from tokrex.pattern import compile

    assert compile('"w\\d+" "\\[UNK\\]"', c.vocab).run(c.ids, c.doc_offsets).positives.tolist() == [2]


def test_existing_store_is_refused_then_replaced(tmp_path, gpt2_tokenizer_dir, text_files):
    store = tmp_path / "s"
    build(text_files[:1], gpt2_tokenizer_dir, store)
    with pytest.raises(CorpusError, match="already holds a corpus store; pass --replace"):
        build(text_files[1:2], gpt2_tokenizer_dir, store)
    assert open_corpus(store).n_docs == 1
    c = build(text_files[1:3], gpt2_tokenizer_dir, store, replace=True)
    assert c.n_docs == 2 and c.text(c.doc_tokens(0)) == TEXTS[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temporary directory left


def test_other_directories_are_never_overwritten(tmp_path, gpt2_tokenizer_dir, text_files):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(CorpusError, match="is not a tokrex corpus store"):
        build(text_files[:1], gpt2_tokenizer_dir, other, replace=True)
    assert (other / "notes.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build(text_files[:1], gpt2_tokenizer_dir, empty).n_docs == 1


def test_failed_build_leaves_nothing(tmp_path, gpt2_tokenizer_dir, text_files, monkeypatch):
    from tokrex.corpus import build as build_module

    store = tmp_path / "s"
    build(text_files[:1], gpt2_tokenizer_dir, store)
    before = (store / "tokens.parquet").read_bytes()
    calls = []

    def failing_add(self, batch, ids):
        calls.append(1)
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_module._Parts, "add", failing_add)
    with pytest.raises(RuntimeError):
        build(text_files, gpt2_tokenizer_dir, store, replace=True)
    with pytest.raises(RuntimeError):
        build(text_files, gpt2_tokenizer_dir, tmp_path / "new")
    assert calls == [1, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no half store, no staging directory
    assert (store / "tokens.parquet").read_bytes() == before and open_corpus(store).n_docs == 1


def test_interrupted_build_resumes(tmp_path, gpt2_store, gpt2_tokenizer_dir, text_files, monkeypatch):
    from tokrex.corpus import build as build_module

    encoded: list[str] = []
    real_encoder = build_module._encoder

    def counting_encoder(tok):
        run = real_encoder(tok)

        def wrapped(texts):
            if len(encoded) >= 3 and interrupt:
                raise KeyboardInterrupt
            encoded.extend(texts)
            return run(texts)

        return wrapped

    monkeypatch.setattr(build_module, "_encoder", counting_encoder)
    store = tmp_path / "s"
    interrupt = True
    with pytest.raises(KeyboardInterrupt):  # parts of ~20 tokens, one document per batch
        build(text_files, gpt2_tokenizer_dir, store, batch_bytes=1, row_group_tokens=20)
    assert not store.exists() and (tmp_path / ".s.building").is_dir()
    done = json.loads((tmp_path / ".s.building" / "progress.json").read_text())["n_docs"]
    assert done == 3
    interrupt, encoded[:] = False, []
    c = build(text_files, gpt2_tokenizer_dir, store, batch_bytes=1, row_group_tokens=20)
    assert encoded == TEXTS[3:]  # only the rest was tokenized
    ref = open_corpus(gpt2_store)
    assert np.array_equal(c.ids, ref.ids) and np.array_equal(c.doc_offsets, ref.doc_offsets)
    assert c.content_hash == ref.content_hash and c.docs().to_pylist() == ref.docs().to_pylist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_stale_staging_is_discarded(tmp_path, gpt2_tokenizer_dir, text_files, monkeypatch):
    from tokrex.corpus import build as build_module

    def interrupted(self, batch, ids):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(build_module._Parts, "add", interrupted)
        with pytest.raises(KeyboardInterrupt):
            build(text_files[:4], gpt2_tokenizer_dir, tmp_path / "s")
    c = build(text_files[4:], gpt2_tokenizer_dir, tmp_path / "s")  # other inputs: start afresh
    assert [c.text(c.doc_tokens(d)) for d in range(c.n_docs)] == TEXTS[4:]


def test_small_batches_and_row_groups_give_the_same_store(tmp_path, gpt2_store, gpt2_tokenizer_dir, text_files):
    import pyarrow.parquet as pq

    c = build(text_files, gpt2_tokenizer_dir, tmp_path / "s", batch_bytes=50, row_group_tokens=7)
    ref = open_corpus(gpt2_store)
    assert np.array_equal(c.ids, ref.ids) and np.array_equal(c.doc_offsets, ref.doc_offsets)
    assert c.content_hash == ref.content_hash
    assert pq.ParquetFile(tmp_path / "s" / "tokens.parquet").metadata.num_row_groups == -(-c.n_tokens // 7)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.jsonl", b'{"text": "ok"}\n{"text": oops}\n', "Line 2 of .*bad.jsonl is not valid JSON"),
        ("nofield.jsonl", b'{"body": "x"}\n', "Line 1 of .*nofield.jsonl has no field 'text'; use --text-field"),
        ("num.jsonl", b'{"text": 3}\n', "Field 'text' on line 1 of .*num.jsonl is a int, not text"),
        ("latin1.txt", "café".encode("latin-1"), "latin1.txt is not UTF-8 text"),
        ("table.csv", b"a,b\n", "unsupported type"),
        ("broken.parquet", b"PAR1 not really", "is not a readable Parquet file"),
    ],
)
def test_unreadable_inputs(tmp_path, gpt2_tokenizer_dir, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        build([p], gpt2_tokenizer_dir, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_input_and_tokenizer_errors(tmp_path, gpt2_tokenizer_dir, text_files):
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pytest.raises(CorpusError, match="Input file .*missing.txt does not exist"):
        build([tmp_path / "missing.txt"], gpt2_tokenizer_dir, tmp_path / "s")
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "t.parquet")
    with pytest.raises(CorpusError, match="has no column 'text'"):
        build([tmp_path / "t.parquet"], gpt2_tokenizer_dir, tmp_path / "s")
    with pytest.raises(CorpusError, match="Tokenizer path .* does not exist"):
        build(text_files[:1], tmp_path / "nowhere" / "tok", tmp_path / "s")
    with pytest.raises(CorpusError, match="not a directory, a tokenizer.json file or a name in the local Hugging Face cache"):
        build(text_files[:1], "no-such-org/no-such-model", tmp_path / "s")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="holds no tokenizer files"):
        build(text_files[:1], tmp_path / "empty", tmp_path / "s")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CorpusError, match="not a valid tokenizer.json"):
        build(text_files[:1], tmp_path / "bad.json", tmp_path / "s")
    assert not (tmp_path / "s").exists()


def _fake_hub_entry(home: Path, repo: str, files: Path) -> None:
    """A repository in a Hugging Face cache under ``home``, as a download would leave it."""
    import shutil

    entry = home / "hub" / ("models--" + repo.replace("/", "--"))
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text("0123abcd")
    shutil.copytree(files, entry / "snapshots" / "0123abcd")


def test_tokenizer_named_from_the_local_cache(tmp_path, gpt2_tokenizer_dir, text_files, monkeypatch):
    """A cached name loads from the cache (a tokenizer-only repository too); nothing is downloaded."""
    home = tmp_path / "hf"
    _fake_hub_entry(home, "someorg/tok", gpt2_tokenizer_dir)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    c = build(text_files[:1], "someorg/tok", tmp_path / "s")
    direct = build(text_files[:1], gpt2_tokenizer_dir, tmp_path / "d")
    assert c.manifest["tokenizer"]["name"] == "someorg/tok"
    assert c.tokenizer_hash == direct.tokenizer_hash and c.ids.tolist() == direct.ids.tolist()
    with pytest.raises(CorpusError, match="nothing is downloaded"):
        build(text_files[:1], "someorg/other", tmp_path / "o")


def test_byte_order_marks_are_not_text(tmp_path, gpt2_tokenizer_dir):
    (tmp_path / "a.txt").write_bytes("\ufeffAlice".encode("utf-8"))
    (tmp_path / "b.jsonl").write_bytes("\ufeff".encode("utf-8") + b'{"text": "Bob"}\r\n{"text": "Carol"}\r\n')
    c = build([tmp_path / "a.txt", tmp_path / "b.jsonl"], gpt2_tokenizer_dir, tmp_path / "s")
    assert [c.text(c.doc_tokens(d)) for d in range(c.n_docs)] == ["Alice", "Bob", "Carol"]
