"""DuckDB views over a store: columns and values checked against numpy."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from store_fixtures import corpus_copy, random_firings, store_corpus, stored  # noqa: F401
from tokrex.errors import QueryError
from tokrex.store import connect, write_firings
from tokrex.store.views import run_query

SID = "00000000deadbeef"


def _fetch(con, sql):
    return run_query(con, sql).read_all()


def _columns(con, view):
    return [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]


def test_corpus_views(corpus_copy):
    con = connect(corpus_copy)
    assert _columns(con, "tokens") == ["token", "doc", "pos", "id"]
    assert _columns(con, "docs")[:3] == ["doc", "start", "n_tokens"]
    assert _columns(con, "vocab")[:5] == ["id", "piece", "surface", "core", "word_start"]
    t = _fetch(con, "SELECT token, doc, pos, id FROM tokens ORDER BY token")
    n = corpus_copy.n_tokens
    offsets = corpus_copy.doc_offsets
    doc = np.repeat(np.arange(corpus_copy.n_docs), np.diff(offsets))
    assert np.array_equal(t["token"].to_numpy(), np.arange(n))
    assert np.array_equal(t["id"].to_numpy(), corpus_copy.ids)
    assert np.array_equal(t["doc"].to_numpy(), doc)
    assert np.array_equal(t["pos"].to_numpy(), np.arange(n) - offsets[doc])
    d = _fetch(con, "SELECT doc, start, n_tokens FROM docs ORDER BY doc")
    assert np.array_equal(d["start"].to_numpy(), offsets[:-1])
    v = _fetch(con, "SELECT id, surface, word_start FROM vocab ORDER BY id")
    assert v["surface"].to_pylist() == corpus_copy.vocab.surface
    assert np.array_equal(v["word_start"].to_numpy(zero_copy_only=False), corpus_copy.vocab.word_start)
    # a join any user would write: the surface text of the tokens of document 2
    text = "".join(r[0] for r in con.execute(
        "SELECT v.surface FROM tokens t JOIN vocab v ON t.id = v.id WHERE t.doc = 2 ORDER BY t.pos").fetchall())
    assert text.strip() == "".join(corpus_copy.vocab.surface[i] for i in corpus_copy.doc_tokens(2)).strip()
    assert "firings" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}


def test_firings_and_latents_views(corpus_copy):
    rng = np.random.default_rng(0)
    n = corpus_copy.n_tokens
    dense, token, latent, act = random_firings(rng, n, 12, 0.2)
    f = write_firings(corpus_copy, SID, pa.table({"token": token, "latent": latent, "act": act}), n_latents=12,
                      groups=[4, 12], part_rows=100)
    con = connect(corpus_copy, f)
    assert _columns(con, "firings") == ["token", "latent", "act"]
    assert _columns(con, "latents")[:3] == ["latent", "level", "n_fires"]
    t = _fetch(con, "SELECT * FROM firings ORDER BY token, latent")
    assert np.array_equal(t["token"].to_numpy(), token)
    assert np.array_equal(t["latent"].to_numpy(), latent)
    assert np.array_equal(t["act"].to_numpy(), stored(act).astype(np.float32))
    counts = _fetch(con, "SELECT latent, count(*) AS n, max(act) AS mx FROM firings GROUP BY latent ORDER BY latent")
    lat = _fetch(con, "SELECT latent, level, n_fires, act_max FROM latents ORDER BY latent")
    assert np.array_equal(counts["n"].to_numpy(), lat["n_fires"].to_numpy()[counts["latent"].to_numpy()])
    assert np.array_equal(counts["mx"].to_numpy(), lat["act_max"].to_numpy()[counts["latent"].to_numpy()])
    assert lat["level"].to_pylist() == [0] * 4 + [1] * 8
    # firings joined with tokens: the doc of each firing
    j = _fetch(con, "SELECT f.token, t.doc FROM firings f JOIN tokens t USING (token) ORDER BY f.token, f.latent")
    assert np.array_equal(j["doc"].to_numpy(), np.searchsorted(corpus_copy.doc_offsets, token, side="right") - 1)


def test_bad_sql_is_a_query_error(corpus_copy):
    con = connect(corpus_copy)
    with pytest.raises(QueryError, match="nosuch"):
        run_query(con, "SELECT * FROM nosuch")
    with pytest.raises(QueryError, match="(?i)syntax"):
        run_query(con, "SELEC 1")


def test_paths_with_quotes_are_never_spliced_into_sql(tmp_path, store_corpus):
    import shutil

    from tokrex.corpus import open_corpus

    odd = tmp_path / "it's a \"store\"; DROP"
    shutil.copytree(store_corpus, odd, ignore=shutil.ignore_patterns("firings", "latents", "saes", "activations"))
    corpus = open_corpus(odd)
    con = connect(corpus)
    assert con.execute("SELECT count(*) FROM tokens").fetchone()[0] == corpus.n_tokens
