"""The latent dashboard data, atoms and contexts against brute force on dense matrices."""

from __future__ import annotations

import numpy as np
import pytest

from query_fixtures import random_corpus, random_store
from tokrex.errors import PatternError, UsageError
from tokrex.query.atoms import atom_position, check_latent_atoms, latent_masks
from tokrex.query.contexts import Column, examples
from tokrex.query.latent import LatentConfig, latent_view
from tokrex.query.source import ArrayFirings


def _setup(seed=0, n_latents=10):
    corpus = random_corpus(seed)
    acts = random_store(seed, n_tokens=corpus.n_tokens, n_latents=n_latents, density=0.25)
    # a parent/child pair: latent 8 (level 2) fires only where latent 1 (level 0) fires
    acts[:, 8] = np.where(acts[:, 1] > 0, acts[:, 8], 0)
    return corpus, acts, ArrayFirings.from_dense(acts, groups=[3, 6, n_latents])


@pytest.mark.parametrize("latent", [1, 4, 8])
def test_latent_view_matches_brute_force(latent):
    corpus, acts, f = _setup()
    rng = np.random.default_rng(0)
    W = rng.normal(size=(acts.shape[1], 5))
    cfg = LatentConfig(contexts=4, width=3, top_tokens=3, min_count=2, cofiring=4, neighbours=3, relative_share=1.0)
    v = latent_view(latent, corpus, f, cfg, W_dec=W)
    a = acts.astype(np.float64)
    col = a[:, latent]
    fires = col > 0
    assert v["n_fires"] == fires.sum()
    assert v["freq"] == pytest.approx(fires.mean())
    assert v["act_max"] == pytest.approx(col.max())
    assert sum(v["histogram"]["counts"]) == fires.sum()
    # top contexts: strongest activations, ties by token
    toks = np.flatnonzero(fires)
    want = toks[np.lexsort((toks, -col[toks]))][:4]
    assert [c["token"] for c in v["top_contexts"]] == want.tolist()
    for c in v["top_contexts"]:
        lo = c["token"] - c["center"]
        assert c["acts"] == pytest.approx(col[lo : lo + len(c["pieces"])].tolist())
        d = c["doc"]
        assert corpus.doc_offsets[d] <= lo and lo + len(c["pieces"]) <= corpus.doc_offsets[d + 1]
        assert c["pos"] == c["token"] - corpus.doc_offsets[d]
    # tokens by count
    ids = corpus.ids[fires].astype(int)
    u, n = np.unique(ids, return_counts=True)
    expect = u[np.lexsort((u, -n))][:3]
    assert [t["id"] for t in v["top_tokens_by_count"]] == expect.tolist()
    for t in v["top_tokens_by_mean_act"]:
        sel = fires & (corpus.ids == t["id"])
        assert t["count"] == sel.sum() >= 2
        assert t["mean_act"] == pytest.approx(col[sel].mean())
    # co-firing by Jaccard
    F = a > 0
    inter = (F & fires[:, None]).sum(0)
    union = (F | fires[:, None]).sum(0)
    jac = np.where(inter > 0, inter / np.maximum(union, 1), 0)
    jac[latent] = 0
    nz = np.flatnonzero(jac)
    expect = nz[np.lexsort((nz, -jac[nz]))][:4]
    assert [c["latent"] for c in v["cofiring"]] == expect.tolist()
    assert [c["jaccard"] for c in v["cofiring"]] == pytest.approx(jac[expect].tolist())
    # relatives with share 1.0: parents contain all of this latent's firings; children lie inside it
    level = np.searchsorted([3, 6, 10], np.arange(10), side="right")
    parents = [j for j in range(10) if level[j] < level[latent] and fires.sum() and inter[j] == fires.sum()]
    children = [j for j in range(10) if level[j] > level[latent] and F[:, j].sum() and inter[j] == F[:, j].sum()]
    assert sorted(r["latent"] for r in v["relatives"]["parents"]) == parents
    assert sorted(r["latent"] for r in v["relatives"]["children"]) == children
    if latent == 8 and fires.any():
        assert 1 in parents
    if latent == 1 and F[:, 8].any():
        assert 8 in children
    # nearest by decoder cosine
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    cos = Wn @ Wn[latent]
    cos[latent] = -np.inf
    assert [r["latent"] for r in v["nearest"]] == np.argsort(-cos, kind="stable")[:3].tolist()


def test_quantile_samples_sit_at_their_quantile():
    corpus, acts, f = _setup(1)
    v = latent_view(2, corpus, f, LatentConfig(quantiles="0.9,0.5,0.1", per_quantile=2))
    col = np.sort(acts[:, 2][acts[:, 2] > 0].astype(np.float64))
    for q in v["quantiles"]:
        assert q["act"] == pytest.approx(col[int(round(q["q"] * (len(col) - 1)))])
        assert len(q["contexts"]) == 2
        for c in q["contexts"]:
            assert c["act"] > 0


def test_unknown_latent_is_a_usage_error():
    corpus, _, f = _setup()
    with pytest.raises(UsageError, match=r"Latent 10 does not exist: this SAE has 10 latents \(ids 0 to 9\)"):
        latent_view(10, corpus, f)
    with pytest.raises(UsageError):
        latent_view(-1, corpus, f)


def test_bad_latent_config():
    with pytest.raises(ValueError):
        LatentConfig(quantiles="0.5,2")
    with pytest.raises(ValueError):
        LatentConfig(contexts=-1)


def test_silent_latent_view():
    corpus, acts, f = _setup()
    silent = int(np.flatnonzero((acts > 0).sum(0) == 0)[0])
    v = latent_view(silent, corpus, f)
    assert v["n_fires"] == 0 and v["top_contexts"] == [] and v["quantiles"] == [] and v["cofiring"] == []


# --- latent atoms ----------------------------------------------------------------------------


@pytest.mark.parametrize("thr", [None, 0.5, 0.75])
def test_latent_masks(thr):
    _, acts, f = _setup()
    col = f.latent_index()
    masks = latent_masks([(3, thr)], col.offsets, col.token, col.act, len(acts))
    np.testing.assert_array_equal(masks[(3, thr)], acts[:, 3].astype(np.float64) > (thr or 0))


def test_unknown_latent_atom_points_at_it():
    pattern = '"L12" "x" [. & !L12] L3'
    assert atom_position(pattern, 12) == pattern.index("!L12") + 1
    assert atom_position(pattern, 3) == len(pattern) - 2
    with pytest.raises(PatternError) as err:
        check_latent_atoms(pattern, [(3, None), (12, 0.5)], 10)
    assert "Latent L12 does not exist: this SAE has 10 latents (L0 to L9)" in err.value.message
    assert err.value.context().splitlines()[1].index("^") == pattern.index("!L12") + 1
    check_latent_atoms(pattern, [(3, None), (9, None)], 10)


# --- example contexts ------------------------------------------------------------------------


def test_examples_are_hits_misses_and_false_alarms():
    corpus, acts, f = _setup()
    positives = np.flatnonzero(corpus.ids == 2)  # "Alice"
    col = Column.of(f, 4)
    ex = examples(corpus, col, positives, n=50, width=2)
    fires = acts[:, 4] > 0
    assert sorted(c.token for c in ex["hits"]) == sorted(set(positives) & set(np.flatnonzero(fires)))
    assert sorted(c.token for c in ex["misses"]) == sorted(set(positives) - set(np.flatnonzero(fires)))
    alarms = np.array(sorted(set(np.flatnonzero(fires)) - set(positives)))
    strongest = alarms[np.lexsort((alarms, -acts[alarms, 4].astype(np.float64)))][:50]
    assert [c.token for c in ex["false_alarms"]] == strongest.tolist()
    for c in ex["hits"] + ex["false_alarms"]:
        assert c.act == pytest.approx(float(acts[c.token, 4]))
        assert c.pieces[c.center].strip() == corpus.vocab.core[corpus.ids[c.token]]
    hit_acts = [c.act for c in ex["hits"]]
    assert hit_acts == sorted(hit_acts, reverse=True)


def test_top_tokens_exact_and_sampled():
    from tokrex.query.contexts import top_tokens

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, 10_000)
    tokens = np.flatnonzero(rng.random(10_000) < 0.6)
    exact = top_tokens(ids, tokens, 3)
    u, c = np.unique(ids[tokens], return_counts=True)
    assert [(t["id"], t["count"]) for t in exact] == [(int(u[i]), int(c[i])) for i in np.lexsort((u, -c))[:3]]
    sampled = top_tokens(ids, tokens, 5, sample=1000)
    assert all(t["estimated"] for t in sampled)
    assert sum(t["count"] for t in sampled) == pytest.approx(len(tokens), rel=0.01)
    assert "estimated" not in exact[0]


def test_sampled_examples_are_still_exact_kinds():
    corpus, acts, f = _setup(2)
    positives = np.flatnonzero(corpus.ids < 4)
    col = Column.of(f, 6)
    ex = examples(corpus, col, positives, n=5, width=1, sample=10)
    fires = set(np.flatnonzero(acts[:, 6] > 0))
    pos = set(positives.tolist())
    assert ex["hits"] and all(c.token in fires and c.token in pos for c in ex["hits"])
    assert ex["false_alarms"] and all(c.token in fires and c.token not in pos for c in ex["false_alarms"])
    assert ex["misses"] and all(c.token not in fires and c.token in pos for c in ex["misses"])


def test_cofiring_sampled_estimates(monkeypatch):
    import tokrex.query.latent as latent_mod

    corpus, acts, f = _setup(3)
    exact = latent_view(4, corpus, f)
    monkeypatch.setattr(latent_mod, "COFIRE_SAMPLE", 20)
    approx = latent_view(4, corpus, f)
    assert not exact["cofiring_estimated"] and approx["cofiring_estimated"]
    n = exact["n_fires"]
    for row in approx["cofiring"][:3]:
        want = next(r for r in exact["cofiring"] if r["latent"] == row["latent"])
        assert abs(row["count"] - want["count"]) <= 0.5 * n
