"""Firings written -> read back identical, through Parquet, the CSR/CSC indexes and the latent table."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store_fixtures import StandInCorpus, random_firings, stored
from tokrex.store import FIRINGS_SCHEMA, LATENTS_SCHEMA, open_firings, write_firings

SID = "0123456789abcdef"


def _write(root, n_tokens, n_latents, token, latent, act, **kw):
    corpus = StandInCorpus(root, n_tokens)
    rows = pa.table({"token": token, "latent": latent, "act": act})
    return corpus, write_firings(corpus, SID, rows, n_latents=n_latents, **kw)


def _brute_stats(dense16: np.ndarray, n_tokens: int):
    a = dense16.astype(np.float64)
    fires = (dense16 > 0).sum(0)
    return fires, a.sum(0), (a * a).sum(0), dense16.astype(np.float32).max(0, initial=0), fires / n_tokens


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_tokens=st.integers(0, 120),
    n_latents=st.integers(1, 40),
    density=st.floats(0.0, 0.5),
    part_rows=st.integers(16, 400),
    seed=st.integers(0, 2**31 - 1),
)
def test_round_trip_matches_brute_force(n_tokens, n_latents, density, part_rows, seed):
    rng = np.random.default_rng(seed)
    dense, token, latent, act = random_firings(rng, n_tokens, n_latents, density)
    dense16 = np.where(dense > 0, stored(dense), 0).astype(np.float16)
    groups = sorted({int(g) for g in rng.integers(1, n_latents + 1, 2)} | {n_latents})
    with tempfile.TemporaryDirectory() as d:
        corpus, f = _write(d, n_tokens, n_latents, token, latent, act, groups=groups, part_rows=part_rows)
        f = open_firings(corpus, SID)
        assert f.n_tokens == n_tokens and f.n_latents == n_latents and f.n_firings == len(token)
        assert f.groups == groups

        table = f.read()
        assert table.schema == FIRINGS_SCHEMA
        assert np.array_equal(table["token"].to_numpy(), token)
        assert np.array_equal(table["latent"].to_numpy(), latent)
        assert np.array_equal(table["act"].to_numpy(), stored(act))

        csr = f.token_index()
        for t in range(n_tokens):
            nz = np.flatnonzero(dense16[t])
            a, b = csr.offsets[t], csr.offsets[t + 1]
            assert np.array_equal(csr.latent[a:b], nz)
            assert np.array_equal(csr.act[a:b], dense16[t, nz])
        csc = f.latent_index()
        for j in range(n_latents):
            nz = np.flatnonzero(dense16[:, j])
            a, b = csc.offsets[j], csc.offsets[j + 1]
            assert np.array_equal(csc.token[a:b], nz)
            assert np.array_equal(csc.act[a:b], dense16[nz, j])

        lat = f.latents()
        assert lat.schema == LATENTS_SCHEMA
        fires, s, sq, mx, freq = _brute_stats(dense16, max(n_tokens, 1))
        assert np.array_equal(lat["latent"].to_numpy(), np.arange(n_latents))
        assert np.array_equal(lat["level"].to_numpy(), [sum(g <= j for g in groups) for j in range(n_latents)])
        assert np.array_equal(lat["n_fires"].to_numpy(), fires)
        np.testing.assert_allclose(lat["act_sum"].to_numpy(), s, rtol=1e-12)
        np.testing.assert_allclose(lat["act_sq_sum"].to_numpy(), sq, rtol=1e-12)
        np.testing.assert_array_equal(lat["act_max"].to_numpy(), mx)
        np.testing.assert_allclose(lat["freq"].to_numpy(), freq)
        assert lat["log10_freq"].null_count == int((fires == 0).sum())


def test_parts_sorted_bounded_and_contiguous(tmp_path):
    rng = np.random.default_rng(1)
    _, token, latent, act = random_firings(rng, 400, 30, 0.2)
    corpus, f = _write(tmp_path, 400, 30, token, latent, act, part_rows=200)
    parts = f.manifest["parts"]
    assert len(parts) > 5
    assert parts[0]["first_token"] == 0 and parts[-1]["end_token"] == 400
    for prev, nxt in zip(parts, parts[1:]):
        assert prev["end_token"] == nxt["first_token"]
    for part, path in zip(parts, f.parts):
        t = pq.read_table(path)
        assert t.num_rows == part["rows"] <= 200
        tok, lat = t["token"].to_numpy(), t["latent"].to_numpy()
        assert np.all((tok >= part["first_token"]) & (tok < part["end_token"]))
        key = tok * 30 + lat
        assert np.all(np.diff(key) > 0)  # sorted by (token, latent), no duplicates
        meta = pq.read_schema(path).metadata
        assert meta[b"tokrex.sae_id"] == SID.encode()
    assert not list(f.layout.firings_dir.glob(".*"))  # no temporary files left behind


def test_readable_as_plain_hive_parquet_without_duckdb(tmp_path):
    import pyarrow.dataset as ds

    rng = np.random.default_rng(2)
    _, token, latent, act = random_firings(rng, 300, 20, 0.1)
    _write(tmp_path, 300, 20, token, latent, act, part_rows=100)
    dataset = ds.dataset(tmp_path / "firings", format="parquet", partitioning="hive")
    t = dataset.to_table(filter=ds.field("sae") == SID).sort_by([("token", "ascending"), ("latent", "ascending")])
    assert np.array_equal(t["token"].to_numpy(), token)
    assert np.array_equal(t["latent"].to_numpy(), latent)
    assert np.array_equal(t["act"].to_numpy(), stored(act))
    lat = ds.dataset(tmp_path / "latents", format="parquet", partitioning="hive").to_table()
    assert lat.num_rows == 20 and set(lat["sae"].to_pylist()) == {SID}


def test_rows_for_tokens_and_latent(tmp_path):
    rng = np.random.default_rng(3)
    dense, token, latent, act = random_firings(rng, 200, 25, 0.15)
    dense16 = np.where(dense > 0, stored(dense), 0).astype(np.float16)
    _, f = _write(tmp_path, 200, 25, token, latent, act)
    want = [5, 0, 199, 5, 77]
    t = f.rows_for_tokens(want)
    assert t.schema == FIRINGS_SCHEMA
    expect = [(i, j, dense16[i, j]) for i in sorted(set(want)) for j in np.flatnonzero(dense16[i])]
    assert list(zip(t["token"].to_pylist(), t["latent"].to_pylist(), t["act"].to_numpy())) == expect
    assert f.rows_for_tokens([]).num_rows == 0
    r = f.rows_for_latent(7)
    assert r["token"].to_pylist() == list(np.flatnonzero(dense16[:, 7]))
    assert np.array_equal(r["act"].to_numpy(), dense16[np.flatnonzero(dense16[:, 7]), 7])


def test_unknown_latent_and_token_are_query_errors(tmp_path):
    from tokrex.errors import QueryError

    rng = np.random.default_rng(4)
    _, token, latent, act = random_firings(rng, 50, 10, 0.3)
    _, f = _write(tmp_path, 50, 10, token, latent, act)
    for bad in (10, -1, 2.5, "x"):
        with pytest.raises(QueryError, match="latents 0..9"):
            f.rows_for_latent(bad)
    with pytest.raises(QueryError, match="0..49"):
        f.rows_for_tokens([50])


def test_activation_clamping_keeps_every_row_positive_and_finite(tmp_path):
    token = np.array([0, 0, 1], np.int64)
    latent = np.array([0, 1, 0], np.int32)
    act = np.array([1e-12, 1e9, 0.5], np.float32)
    _, f = _write(tmp_path, 2, 2, token, latent, act)
    a = f.read()["act"].to_numpy()
    assert np.all(a > 0) and np.all(np.isfinite(a))
    assert a[0] == np.float16(2.0**-24) and a[1] == np.float16(65504)


def test_write_firings_rejects_bad_rows(tmp_path):
    from tokrex.errors import StoreError

    cases = [
        ({"token": [1, 0], "latent": [0, 0], "act": [1.0, 1.0]}, "sorted by token"),
        ({"token": [0, 5], "latent": [0, 0], "act": [1.0, 1.0]}, "outside the corpus"),
        ({"token": [0, 1], "latent": [0, 3], "act": [1.0, 1.0]}, "latents outside"),
        ({"token": [0, 1], "latent": [0, 1], "act": [1.0, 0.0]}, "act > 0"),
        ({"token": [0, 0], "latent": [1, 1], "act": [1.0, 2.0]}, "twice"),
    ]
    for i, (cols, msg) in enumerate(cases):
        corpus = StandInCorpus(tmp_path / str(i), 3)
        with pytest.raises(StoreError, match=msg):
            write_firings(corpus, SID, pa.table(cols), n_latents=2)


def test_unsorted_latents_within_a_token_are_sorted(tmp_path):
    cols = {"token": [0, 0, 0, 2], "latent": [3, 1, 2, 0], "act": [3.0, 1.0, 2.0, 5.0]}
    corpus = StandInCorpus(tmp_path, 3)
    f = write_firings(corpus, SID, pa.table(cols), n_latents=4)
    t = f.read()
    assert t["latent"].to_pylist() == [1, 2, 3, 0] and t["act"].to_pylist() == [1.0, 2.0, 3.0, 5.0]


def test_streamed_batches_may_split_a_token(tmp_path):
    rng = np.random.default_rng(5)
    _, token, latent, act = random_firings(rng, 60, 12, 0.4)
    table = pa.table({"token": token, "latent": latent, "act": act})
    corpus = StandInCorpus(tmp_path, 60)
    f = write_firings(corpus, SID, table.to_batches(max_chunksize=7), n_latents=12, part_rows=50)
    assert np.array_equal(f.read()["latent"].to_numpy(), latent)


def test_index_is_rebuilt_when_stale_or_damaged(tmp_path):
    rng = np.random.default_rng(6)
    _, token, latent, act = random_firings(rng, 80, 10, 0.3)
    corpus, f = _write(tmp_path, 80, 10, token, latent, act)
    assert np.array_equal(f.token_index().act, stored(act))
    d = f.layout.index_dir / "token"
    ident = json.loads((d / "identity.json").read_text())
    assert ident["firings"] == f.identity
    # damaged: a truncated array is detected and rebuilt
    (d / "act.npy").write_bytes(b"garbage")
    g = open_firings(corpus, SID)
    assert np.array_equal(g.token_index().act, stored(act))
    # stale: firings written again (another run) get a new identity and a new index
    _, token2, latent2, act2 = random_firings(np.random.default_rng(7), 80, 10, 0.3)
    h = write_firings(corpus, SID, pa.table({"token": token2, "latent": latent2, "act": act2}), n_latents=10,
                      overwrite=True)
    assert h.identity != f.identity
    assert np.array_equal(h.token_index().latent, latent2)
    assert np.array_equal(np.asarray(h.latent_index().offsets), np.concatenate([[0], np.cumsum(np.bincount(latent2, minlength=10))]))
