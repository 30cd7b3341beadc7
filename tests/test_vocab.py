"""Vocabulary normalization (surface, core, word_start) for each tokenizer family, and its Arrow form."""

from __future__ import annotations

import numpy as np
import pytest

from corpus_fixtures import metaspace_tokenizer
from tokrex.corpus import Vocab
from tokrex.corpus.pieces import byte_to_char, decode_stable, detect_family


def _backend(path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path / "tokenizer.json"))


@pytest.fixture(scope="module")
def gpt2_vocab(gpt2_tokenizer_dir):
    return Vocab.from_tokenizer(_backend(gpt2_tokenizer_dir))


def test_byte_table_is_a_bijection_with_gpt2_markers():
    table = byte_to_char()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("A")] == "A"


@pytest.mark.parametrize(
    "data, text",
    [
        (b"plain", "plain"),
        ("€".encode(), "€"),
        (b"\xe2\x82", "<0xE2><0x82>"),
        (b"a\xffb", "a<0xFF>b"),
        (b" \xe2\x82\xac\xe2", " €<0xE2>"),
        (b"", ""),
    ],
)
def test_invalid_utf8_gets_a_stable_text(data, text):
    assert decode_stable(data) == text


def test_byte_level_pieces(gpt2_vocab, gpt2_tokenizer_dir):
    v = gpt2_vocab
    assert v.family == "byte_level" and v.size == _backend(gpt2_tokenizer_dir).get_vocab_size()
    inverse = {c: b for b, c in byte_to_char().items()}
    for i, piece in enumerate(v.piece):
        if piece == "<|endoftext|>":
            assert (v.surface[i], v.core[i], bool(v.word_start[i])) == (piece, piece, False)
            continue
        text = decode_stable(bytes(inverse[c] for c in piece))
        assert v.surface[i] == text
        assert bool(v.word_start[i]) == piece.startswith("Ġ")
        assert v.core[i] == (text[1:] if piece.startswith("Ġ") else text)
    i = v.piece.index("Ġ")
    assert (v.surface[i], v.core[i], bool(v.word_start[i])) == (" ", "", True)
    j = v.piece.index("Ã")  # byte 0xC3 alone: half of a character
    assert v.surface[j] == v.core[j] == "<0xC3>"


def test_byte_level_joined_text_rebuilds_the_input(gpt2_vocab, gpt2_tokenizer_dir):
    text = "Café naïve ☕ — “quoted”\n\tIndented"
    ids = _backend(gpt2_tokenizer_dir).encode(text, add_special_tokens=False).ids
    assert gpt2_vocab.text(ids) == text
    assert any("<0x" in gpt2_vocab.surface[i] for i in ids)  # some token holds part of a character


def test_wordpiece_pieces(bert_model_dir):
    tok = _backend(bert_model_dir)
    v = Vocab.from_tokenizer(tok)
    assert v.family == "wordpiece"
    for i, piece in enumerate(v.piece):
        if piece in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
            assert (v.surface[i], v.core[i], bool(v.word_start[i])) == (piece, piece, False)
        elif piece.startswith("##"):
            assert (v.surface[i], v.core[i], bool(v.word_start[i])) == (piece[2:], piece[2:], False)
        else:
            assert (v.surface[i], v.core[i], bool(v.word_start[i])) == (" " + piece, piece, True)
    ids = tok.encode("Massachusetts, Hello", add_special_tokens=False).ids
    assert v.text(ids) == " massachusetts , hello"


def test_metaspace_pieces_with_byte_fallback():
    tok = metaspace_tokenizer()
    v = Vocab.from_tokenizer(tok)
    assert v.family == "metaspace"

    def entry(piece):
        i = tok.token_to_id(piece)
        return v.surface[i], v.core[i], bool(v.word_start[i])

    assert entry("▁Hello") == (" Hello", "Hello", True)
    assert entry("ach") == ("ach", "ach", False)
    assert entry("▁") == (" ", "", True)
    assert entry("▁▁") == ("  ", " ", True)
    assert entry("<0x0A>") == ("\n", "\n", False)
    assert entry("<0x41>") == ("A", "A", False)
    assert entry("<0xC3>") == ("<0xC3>", "<0xC3>", False)
    assert entry("<s>") == ("<s>", "<s>", False)
    text = "Hello world, Massachusetts\né!"
    ids = tok.encode(text, add_special_tokens=False).ids
    assert v.text(ids) == " " + text


@pytest.mark.parametrize(
    "spec, family",
    [
        ({"model": {"type": "BPE"}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split"}, {"type": "ByteLevel"}]},
          "decoder": {"type": "ByteLevel"}}, "byte_level"),  # Llama-3 style
        ({"model": {"type": "BPE", "byte_fallback": True},
          "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
          "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}]}},
         "metaspace"),  # Llama-2 style
        ({"model": {"type": "Unigram"}, "pre_tokenizer": {"type": "Metaspace"}}, "metaspace"),
        ({"model": {"type": "WordPiece", "continuing_subword_prefix": "##"}}, "wordpiece"),
        ({"model": {"type": "WordLevel"}, "pre_tokenizer": {"type": "Whitespace"}}, "plain"),
    ],
)
def test_family_detection(spec, family):
    assert detect_family(spec) == family


def test_arrow_round_trip(gpt2_vocab):
    table = gpt2_vocab.to_arrow()
    assert table.column_names == ["id", "piece", "surface", "core", "word_start", "data"]
    back = Vocab.from_arrow(table)
    assert back.piece == gpt2_vocab.piece and back.surface == gpt2_vocab.surface and back.core == gpt2_vocab.core
    assert np.array_equal(back.word_start, gpt2_vocab.word_start) and back.data == gpt2_vocab.data
    assert back.family == "byte_level"
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    assert Vocab.from_arrow(shuffled).piece == gpt2_vocab.piece
    assert np.array_equal(Vocab.from_arrow(shuffled).word_start, gpt2_vocab.word_start)
    import pyarrow as pa

    chunked = pa.concat_tables([table.slice(0, 7), table.slice(7, 290), table.slice(297)])  # chunks at bit offsets
    assert np.array_equal(Vocab.from_arrow(chunked).word_start, gpt2_vocab.word_start)


def test_arrow_rejects_bad_tables(gpt2_vocab):
    table = gpt2_vocab.to_arrow()
    with pytest.raises(ValueError, match="core"):
        Vocab.from_arrow(table.drop_columns(["core"]))
    with pytest.raises(ValueError, match="0..n-1"):
        Vocab.from_arrow(table.slice(1))


def test_vocab_checks_lengths():
    with pytest.raises(ValueError):
        Vocab(piece=["a", "b"], surface=["a"], core=["a", "b"], word_start=[False, False])
    v = Vocab(piece=["a", "Ġb"], surface=["a", " b"], core=["a", "b"], word_start=[False, True])
    assert v.size == 2 and v.text([0, 1]) == "a b"
