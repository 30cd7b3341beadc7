"""Every ranking metric, hole and cover checked against a brute-force numpy computation on dense matrices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from query_fixtures import brute_auroc, brute_metrics, random_positives, random_store
from tokrex.query.config import SearchConfig
from tokrex.query.holes import cover, holes
from tokrex.query.metrics import above, auroc, auroc_half, fires_above, latent_metrics, positive_hits, row_index
from tokrex.query.ranking import rank
from tokrex.query.source import ArrayFirings


def _check(got: dict, want: dict, names=None):
    for name in names or want:
        np.testing.assert_allclose(np.asarray(got[name], dtype=np.float64), want[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_metrics_match_brute_force(seed, threshold):
    acts = random_store(seed)
    positives = random_positives(seed, len(acts))
    f = ArrayFirings.from_dense(acts)
    tok, col, lat = f.token_index(), f.latent_index(), f.latents()
    tp, pos_sum = positive_hits(tok.offsets, tok.latent, tok.act, positives, f.n_latents, threshold)
    n_fires = fires_above(col.offsets, col.act, threshold)
    got = latent_metrics(
        tp, pos_sum, n_fires, lat.column("act_sum").to_numpy(), lat.column("act_sq_sum").to_numpy(),
        len(positives), f.n_tokens,
    )
    want = brute_metrics(acts, positives, threshold)
    _check(got, want, [k for k in want if k != "n_fires"])
    np.testing.assert_array_equal(n_fires, want["n_fires"])


def test_parallel_gather_equals_serial(monkeypatch):
    import tokrex.query.metrics as metrics

    acts = random_store(3, n_tokens=2000, n_latents=30)
    positives = random_positives(3, 2000, 0.5)
    tok = ArrayFirings.from_dense(acts).token_index()
    serial = positive_hits(tok.offsets, tok.latent, tok.act, positives, 30, 0.25, threads=1)
    monkeypatch.setattr(metrics, "_PARALLEL_MIN", 10)
    parallel = positive_hits(tok.offsets, tok.latent, tok.act, positives, 30, 0.25, threads=2)
    np.testing.assert_array_equal(serial[0], parallel[0])
    np.testing.assert_allclose(serial[1], parallel[1])


def test_row_index_gathers_ranges():
    offsets = np.array([0, 2, 2, 5, 6])
    np.testing.assert_array_equal(row_index(offsets, np.array([0, 1, 2])), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(row_index(offsets, np.array([3])), [5])
    assert len(row_index(offsets, np.array([1]))) == 0


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
@pytest.mark.parametrize("threshold", [0.0, 0.5])
@pytest.mark.parametrize("seed", range(3))
def test_rank_engines_match_brute_force(engine, threshold, seed):
    acts = random_store(seed + 10)
    positives = random_positives(seed, len(acts))
    f = ArrayFirings.from_dense(acts, groups=[3, 7, 12])
    cfg = SearchConfig(top=0, min_fires=0, threshold=threshold, engine=engine, auroc=True)
    table = rank(positives, f, cfg)
    want = brute_metrics(acts, positives, threshold)
    want["auroc"] = brute_auroc(acts, positives)
    latent = table.column("latent").to_numpy()
    assert sorted(latent) == list(range(acts.shape[1]))
    got = {name: np.empty(acts.shape[1]) for name in want}
    for name in want:
        got[name][latent] = table.column(name).to_numpy()
    _check(got, want)
    # levels from groups [3, 7, 12]
    level = dict(zip(latent, table.column("level").to_numpy()))
    assert [level[i] for i in (0, 2, 3, 6, 7, 11)] == [0, 0, 1, 1, 2, 2]
    # ordered by f1 descending, ties by latent id
    f1 = table.column("f1").to_numpy()
    keys = list(zip(-f1, latent))
    assert keys == sorted(keys)
    assert table.column("rank").to_pylist() == list(range(1, len(latent) + 1))


@pytest.mark.parametrize("by", ["f1", "precision", "recall", "cosine", "auroc"])
def test_rank_by_top_and_min_fires(by):
    acts = random_store(42, n_tokens=300, n_latents=40)
    positives = random_positives(42, 300)
    f = ArrayFirings.from_dense(acts)
    want = brute_metrics(acts, positives)
    want["auroc"] = brute_auroc(acts, positives)
    table = rank(positives, f, SearchConfig(by=by, top=5, min_fires=8))
    ok = np.flatnonzero(want["n_fires"] >= 8)
    expect = ok[np.lexsort((ok, -want[by][ok]))][:5]
    assert table.column("latent").to_pylist() == expect.tolist()
    np.testing.assert_allclose(table.column(by).to_numpy(), want[by][expect])


def test_auroc_by_bounds_reads_few_columns(monkeypatch):
    """Ranking by AUROC computes the exact value only where the count bounds leave it open."""
    import tokrex.query.ranking as rank_mod

    acts = random_store(5, n_tokens=400, n_latents=200, density=0.1)
    positives = random_positives(5, 400)
    seen = []
    real = rank_mod.auroc_of

    def spy(latents, *args):
        seen.extend(np.asarray(latents).tolist())
        return real(latents, *args)

    monkeypatch.setattr(rank_mod, "auroc_of", spy)
    table = rank(positives, ArrayFirings.from_dense(acts), SearchConfig(by="auroc", top=3))
    want = brute_auroc(acts, positives)
    ok = np.flatnonzero((acts > 0).sum(0) >= 1)
    expect = ok[np.lexsort((ok, -want[ok]))][:3]
    assert table.column("latent").to_pylist() == expect.tolist()
    assert len(seen) < 200


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([0.0, 0.0, 0.25, 0.5, 1.0]), min_size=3, max_size=3), min_size=1, max_size=30),
    st.data(),
)
def test_auroc_property(rows, data):
    acts = np.array(rows, dtype=np.float16)
    n = len(acts)
    positives = np.array(sorted(data.draw(st.sets(st.integers(0, n - 1)))), dtype=np.int64)
    f = ArrayFirings.from_dense(acts)
    col = f.latent_index()
    is_pos = np.zeros(n, dtype=bool)
    is_pos[positives] = True
    got = auroc(col.offsets, col.act, is_pos[col.token], len(positives), n)
    np.testing.assert_allclose(got, brute_auroc(acts, positives))
    # the linear-time float16 path (the store's columns) gives the same values
    half = [auroc_half(col.act[a:b], is_pos[col.token[a:b]], len(positives), n) for a, b in zip(col.offsets[:-1], col.offsets[1:])]
    np.testing.assert_allclose(half, brute_auroc(acts, positives))


def test_auroc_half_matches_brute_force_on_many_values():
    rng = np.random.default_rng(7)
    acts = np.where(rng.random((3000, 6)) < 0.4, rng.gamma(2.0, 0.5, (3000, 6)) + 0.01, 0).astype(np.float16)
    positives = random_positives(7, 3000, 0.3)
    is_pos = np.zeros(3000, dtype=bool)
    is_pos[positives] = True
    want = brute_auroc(acts, positives)
    for j in range(6):
        fire = acts[:, j] > 0
        assert auroc_half(acts[fire, j], is_pos[fire], len(positives), 3000) == pytest.approx(want[j], abs=1e-12)


@pytest.mark.parametrize("threshold", [0.0, 1e-9, 0.3, 0.5, 0.50024414, 0.5003, 1.7, 70000.0, 1e30])
def test_above_and_chunked_fires_above_match_float64(threshold):
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 50, 40)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    act = (rng.random(offsets[-1]) * 2 + 1e-4).astype(np.float16)
    exact = act.astype(np.float64) > threshold
    np.testing.assert_array_equal(above(act, threshold), exact)
    want = np.array([exact[a:b].sum() for a, b in zip(offsets[:-1], offsets[1:])])
    for chunk in (1, 7, 64, 1 << 24):
        np.testing.assert_array_equal(fires_above(offsets, act, threshold, chunk=chunk), want)


def test_edge_cases_no_and_all_positives():
    acts = random_store(7)
    f = ArrayFirings.from_dense(acts)
    for positives in (np.zeros(0, dtype=np.int64), np.arange(len(acts))):
        table = rank(positives, f, SearchConfig(top=0, min_fires=0, auroc=True))
        want = brute_metrics(acts, positives)
        got = {k: np.empty(acts.shape[1]) for k in want}
        for k in want:
            got[k][table.column("latent").to_numpy()] = table.column(k).to_numpy()
        _check(got, want)
        assert np.all(table.column("auroc").to_numpy() == 0.5)


# --- holes and cover -------------------------------------------------------------------------


def brute_holes(acts, positives, latent, threshold, top, eligible):
    fires = acts.astype(np.float64) > threshold
    missed = positives[~fires[positives, latent]]
    counts = fires[missed].sum(0)
    counts[latent] = 0
    counts[~eligible] = 0
    nz = np.flatnonzero(counts)
    order = nz[np.lexsort((nz, -counts[nz]))][:top]
    return len(missed), [(int(a), int(counts[a])) for a in order]


def _readers(f: ArrayFirings, threshold: float):
    tok, col = f.token_index(), f.latent_index()

    def column(latent):
        s, e = col.offsets[latent], col.offsets[latent + 1]
        return col.token[s:e][col.act[s:e] > threshold]

    def counts_on(tokens):
        return positive_hits(tok.offsets, tok.latent, tok.act, tokens, f.n_latents, threshold)[0]

    return column, counts_on


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_holes_match_brute_force(seed, threshold):
    acts = random_store(seed + 20, n_latents=16)
    positives = random_positives(seed, len(acts), 0.3)
    f = ArrayFirings.from_dense(acts)
    column, counts_on = _readers(f, threshold)
    eligible = (acts > 0).sum(0) >= 3
    got = holes(list(range(16)), positives, len(acts), column, counts_on, top=4, eligible=eligible)
    for h in got:
        size, absorbers = brute_holes(acts, positives, h.latent, threshold, 4, eligible)
        assert (h.size, h.absorbers) == (size, absorbers)


def brute_cover(acts, positives, k, threshold, eligible):
    fires = acts.astype(np.float64) > threshold
    n_pos = len(positives)
    mask = np.zeros(len(acts), dtype=bool)
    mask[positives] = True
    union = np.zeros(len(acts), dtype=bool)
    chosen, steps = [], []
    best_f1 = 0.0
    for _ in range(k):
        scores = []
        for j in range(acts.shape[1]):
            if j in chosen or not eligible[j]:
                continue
            u = union | fires[:, j]
            tp = int((u & mask).sum())
            f1 = 2 * tp / (u.sum() + n_pos) if u.sum() + n_pos else 0.0
            scores.append((-f1, j))
        if not scores:
            break
        f1, j = min(scores)
        if -f1 <= best_f1:
            break
        best_f1 = -f1
        chosen.append(j)
        union |= fires[:, j]
        tp = int((union & mask).sum())
        steps.append((j, tp, int(union.sum()) - tp, n_pos - tp))
    return steps


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_cover_matches_brute_force(seed, threshold):
    acts = random_store(seed + 30, n_latents=14, density=0.3)
    positives = random_positives(seed, len(acts), 0.3)
    f = ArrayFirings.from_dense(acts)
    column, counts_on = _readers(f, threshold)
    eligible = (acts > 0).sum(0) >= (seed % 3)
    tp = counts_on(positives)
    n_fires = fires_above(f.latent_index().offsets, f.latent_index().act, threshold)
    steps = cover(tp, n_fires, positives, len(acts), column, counts_on, k=6, eligible=eligible)
    want = brute_cover(acts, positives, 6, threshold, eligible)
    assert [(s.latent, s.tp, s.fp, s.fn) for s in steps] == want
    f1s = [s.scores(len(positives))[2] for s in steps]
    assert f1s == sorted(f1s) and len(set(f1s)) == len(f1s)
