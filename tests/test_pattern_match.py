"""The pattern API and the semantics the issue pins down, on small hand-made corpora."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import tokrex
from pattern_fixtures import make_vocab, parse_corpus
from reference_matcher import reference_match
from tokrex.pattern import CompiledPattern, compile, parse, parse_script
from tokrex.pattern import ast as A


def run(pattern: str, corpus: str, **kw):
    vocab, ids, offsets = parse_corpus(corpus)
    result = compile(pattern, vocab, **kw).run(ids, offsets)
    texts = [vocab.surface[int(ids[g])] for g in result.positives]
    spans = list(zip(result.match_doc.tolist(), result.match_start.tolist(), result.match_end.tolist()))
    return texts, spans


# ---- the API ------------------------------------------------------------------------------
def test_result_arrays_and_tables():
    vocab, ids, offsets = parse_corpus("a| b| a\n\nb| a| a")
    p = tokrex.compile('"a" | "b" "a"', vocab)
    assert isinstance(p, CompiledPattern)
    r = p.run(ids, offsets)
    assert r.positives.dtype == np.int64 and r.positives.tolist() == [0, 2, 4, 5]
    assert r.match_doc.dtype == r.match_start.dtype == r.match_end.dtype == np.int64
    assert list(zip(r.match_doc, r.match_start, r.match_end)) == [(0, 0, 1), (0, 1, 3), (2, 0, 2), (2, 2, 3)]
    assert (r.n_matches, r.n_positives) == (4, 4)
    pos = r.positives_table()
    assert pos.schema == pa.schema([("token", pa.int64()), ("doc", pa.int64()), ("pos", pa.int64())])
    assert pos.column("doc").to_pylist() == [0, 0, 2, 2] and pos.column("pos").to_pylist() == [0, 2, 1, 2]
    spans = r.matches_table()
    assert spans.column_names == ["doc", "start", "end"] and spans.num_rows == 4


def test_empty_corpus_and_empty_documents():
    vocab = make_vocab(["a", " b"])
    p = compile(".", vocab)
    r = p.run(np.zeros(0, dtype=np.uint16), np.array([0]))
    assert r.n_positives == 0 and r.n_matches == 0
    r = compile('"a" .*', vocab).run(np.array([0, 1], dtype=np.uint16), np.array([0, 0, 2, 2]))
    assert r.positives.tolist() == [0, 1] and r.match_doc.tolist() == [1, 1]


def test_bad_corpus_arrays_are_rejected():
    vocab = make_vocab(["a"])
    p = compile('"a" "a"', vocab)
    with pytest.raises(ValueError, match="doc_offsets"):
        p.run(np.array([0, 0], dtype=np.uint16), np.array([0, 3]))
    with pytest.raises(ValueError, match="token ids"):
        p.run(np.array([0, 5], dtype=np.uint16), np.array([0, 2]))


def test_apply_to_a_corpus_or_plain_ids(gpt2_tokenizer_dir, tmp_path, texts):
    """compile() takes a Vocab, a Corpus or a tokenizer; run() takes a Corpus, or ids with or
    without document offsets (without: one document)."""
    from transformers import AutoTokenizer

    from corpus_fixtures import build

    paths = []
    for i, text in enumerate(texts[:3]):
        paths.append(tmp_path / f"{i}.txt")
        paths[-1].write_text(text, encoding="utf-8")
    corpus = build(paths, gpt2_tokenizer_dir, tmp_path / "store")
    expected = compile('"[A-Z][a-z]+"', corpus.vocab).run(corpus.ids, corpus.doc_offsets).positives.tolist()
    assert compile('"[A-Z][a-z]+"', corpus).run(corpus).positives.tolist() == expected != []
    tok = AutoTokenizer.from_pretrained(gpt2_tokenizer_dir)
    assert tokrex.compile('"[A-Z][a-z]+"', tok).run(corpus).positives.tolist() == expected
    vocab, ids, _ = parse_corpus("a| b| a")
    assert compile('"a" .?', vocab).run(ids).match_end.tolist() == [1, 2, 3]


def test_same_arrays_again_give_the_same_result():
    vocab, ids, offsets = parse_corpus("a| b| a| b\nb| a")
    p = compile('"a" "b"', vocab)
    first = p.run(ids, offsets).positives.tolist()
    assert p.run(ids, offsets).positives.tolist() == first == [1, 3]
    assert p.run(ids[:4].copy(), np.array([0, 4])).positives.tolist() == [1, 3]


def test_parse_script_keeps_definitions_and_comments():
    script = parse_script(
        '# pets\npet = "cat" | "dog"   # two\n\nbig = "[A-Z].*"\n@pet " said"s  # "#" is no comment here\n'
    )
    assert [d.name for d in script.definitions] == ["pet", "big"]
    assert script.query_line == 5
    assert isinstance(script.query, A.Seq) and isinstance(script.query.items[0], A.Mark)
    assert parse('"#"').source == "#"
    assert parse('"\\\\"').source == "\\\\"
    assert parse('"\\""').source == '"'
    assert parse('"a""b"').items[1].source == "b"


# ---- semantics ----------------------------------------------------------------------------
def test_matches_never_cross_documents():
    assert run('"a" "b"', "x| a\nb| y") == ([], [])
    assert run('"a" .* "b"', "a| x\nx| b") == ([], [])
    assert run("(?<= .) .", "a\nb") == ([], [])
    assert run(". (?! .)", "a| b\nc") == ([" b", "c"], [(0, 1, 2), (1, 0, 1)])


def test_all_spans_count_and_the_longest_is_shown():
    texts, spans = run('"a"+', "a|a|a")
    assert texts == ["a", "a", "a"]
    assert spans == [(0, 0, 1), (0, 0, 2), (0, 0, 3)]
    assert run('"a"+? "b"'.replace("+?", "*"), "a|a|b")[1] == [(0, 0, 3)]


def test_word_atoms_follow_the_joining_rule():
    corpus = ' Mass|ach|usetts| and| Hello|,\n "|Hello|"'
    assert run('<"Massachusetts">', corpus) == (["usetts"], [(0, 0, 3)])
    assert run('<"Mass">', corpus) == ([], [])
    assert run('<"[A-Z][a-z]+">', corpus)[0] == ["usetts", " Hello", "Hello"]
    assert run('<"hello"i>', corpus)[1] == [(0, 4, 5), (1, 1, 2)]


def test_long_words_are_told_apart():
    """Words longer than one int64 key can hold (here 4**46 > 2**63) are still compared exactly."""
    corpus = "\n".join([" a|" + "|".join(["b"] * 45), " a|" + "|".join(["b"] * 44) + "|c", " a|" + "|".join(["b"] * 45)])
    assert run('<"ab{45}">', corpus)[1] == [(0, 0, 46), (2, 0, 46)]
    assert run('<"ab{44}c">', corpus)[1] == [(1, 0, 46)]


def test_word_flags_and_punctuation():
    corpus = ' Mass|ach|usetts|,| said| "|Hello|"'
    assert run('"\\w+"w', corpus)[0] == [" Mass", " said", "Hello"]
    assert run('"\\w+"c', corpus)[0] == ["ach", "usetts"]
    assert run('["\\W+"w | "\\W+"c]', corpus) == ([], [])
    assert run('[!"\\w*"w & !"\\w*"c]', corpus)[0] == [",", ' "', '"']


def test_induction_compares_core_texts():
    texts, spans = run("(?<a>.) .* \\k<a>", " Harry| said| hi| to| Harry")
    assert texts == [" Harry"] and spans == [(0, 0, 5)]
    assert run("(?<a>.) .* \\k<a>", " Harry| said| \"|Harry")[0] == ["Harry"]


def test_repetition_past_the_minimum_must_consume():
    assert run('("a"?)*', "a|a")[1] == [(0, 0, 1), (0, 0, 2)]
    assert run('("a"?){3} "b"', "b|a|b")[1] == [(0, 0, 1), (0, 1, 3)]


def test_marks_choose_positives():
    assert run('"the" @"[a-z]+"+ "of"', "the| cat| dog| of| X")[0] == [" cat", " dog"]
    # every parse counts: "[a-z]+"+ may also run over " of the" to the last " of"
    assert run('"the" @"[a-z]+"+ "of"', "the| cat| dog| of| the| of")[0] == [" cat", " dog", " of", " the"]
    assert run('@"x" @"y"', "x|y")[0] == ["x", "y"]


def test_long_documents_are_exact():
    n = 200_000
    vocab = make_vocab(["a", "b", "c"])
    ids = np.zeros(n, dtype=np.uint16)
    ids[[5, 150_000, 199_999]] = [1, 2, 1]
    offsets = np.array([0, n])
    r = compile('"b" .* "c" "a"* "b"', vocab).run(ids, offsets)
    assert r.positives.tolist() == [199_999]
    assert list(zip(r.match_start.tolist(), r.match_end.tolist())) == [(5, n)]
    r = compile('@("a"+) "c"', vocab).run(ids, offsets)
    assert r.n_positives == 150_000 - 6


def test_latent_atoms():
    vocab, ids, offsets = parse_corpus(" Alice| met| Bob\n Carol")
    p = compile('["[A-Z][a-z]+" & !L3] | L4>0.5 " met"s', vocab, latents=True)
    assert p.latent_atoms == [(3, None), (4, 0.5)]
    masks = {(3, None): np.array([1, 0, 0, 1], bool), (4, 0.5): np.array([1, 0, 0, 0], bool)}
    r = p.run(ids, offsets, latent_masks=masks)
    assert r.positives.tolist() == [1, 2]
    with pytest.raises(ValueError, match="latent_masks lacks"):
        p.run(ids, offsets, latent_masks={(3, None): masks[(3, None)]})
    with pytest.raises(ValueError, match="shape"):
        p.run(ids, offsets, latent_masks={**masks, (3, None): np.zeros(2, bool)})
    assert compile("L3", vocab, latents=True).run(ids, offsets, latent_masks=masks).positives.tolist() == [0, 3]


def test_real_tokenizer_vocabulary(gpt2_tokenizer_dir, texts):
    """On a real byte-level BPE, the fast matcher agrees with the reference."""
    from transformers import AutoTokenizer

    from tokrex.corpus import Vocab

    tok = AutoTokenizer.from_pretrained(gpt2_tokenizer_dir)
    vocab = Vocab.from_tokenizer(tok)
    docs = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    ids = np.array([i for d in docs for i in d], dtype=np.uint16)
    offsets = np.cumsum([0] + [len(d) for d in docs])
    patterns = [
        '"[A-Z][a-z]+"', '<"[A-Z][a-z]+">', '<"Massachusetts">', '"said" @.{1,3} "\\."', "(?<a>.) .* \\k<a>",
        '(?<= "the"i) "[a-z]+"w', '"\\d+" (?! "\\.")', '<"[a-z]+"> "and" <"[a-z]+">', '"\\w+"c+',
    ]
    for pattern in patterns:
        r = compile(pattern, vocab).run(ids, offsets)
        positives, matches = reference_match(parse(pattern), vocab, ids, offsets)
        assert r.positives.tolist() == positives, pattern
        assert list(zip(r.match_doc.tolist(), r.match_start.tolist(), r.match_end.tolist())) == matches, pattern
    assert compile('<"Massachusetts">', vocab).run(ids, offsets).n_positives == 1
