"""`tokrex.search` and `search_firings` on a real store with planted firings, checked by brute force."""

from __future__ import annotations

import numpy as np
import pytest

from query_fixtures import brute_auroc, brute_metrics
from query_store_fixtures import CAPITALIZED, GROUPS, N_LATENTS, SAE_ID, planted  # noqa: F401
from tokrex.errors import PatternError, PatternSyntaxError, UsageError
from tokrex.query import ArrayFirings, SearchConfig, search, search_firings, search_info

CAP = '"[A-Z][a-z]+"'


def _cap(planted):
    return planted.positives(lambda c: CAPITALIZED.fullmatch(c) is not None)


def test_search_api_returns_ranked_arrow_table(planted):
    import pyarrow as pa

    table = search(CAP, sae=planted.sae_id, store=planted.store, top=5)
    assert isinstance(table, pa.Table)
    info = search_info(table)
    positives = _cap(planted)
    assert info["pattern"] == CAP and info["n_positives"] == len(positives) > 0
    assert info["n_tokens"] == len(planted.ids) and info["sae"] == SAE_ID
    rows = table.to_pylist()
    assert rows[0]["latent"] == 0 and rows[0]["f1"] == 1.0 and rows[0]["level"] == 0
    want = brute_metrics(planted.acts, positives)
    for r in rows:
        for name in ("tp", "fp", "fn", "precision", "recall", "f1", "cosine", "mean_act_pos", "mean_act_neg", "miss_share"):
            assert r[name] == pytest.approx(want[name][r["latent"]], rel=1e-9, abs=1e-12), name
        assert r["level"] == int(np.searchsorted(GROUPS, r["latent"], side="right"))
        assert r["n_fires"] == want["n_fires"][r["latent"]]
    f1 = [r["f1"] for r in rows]
    assert f1 == sorted(f1, reverse=True)
    df = table.to_pandas()
    assert list(df["latent"]) == [r["latent"] for r in rows]
    # top tokens of L0 are capitalized words
    assert all(CAPITALIZED.fullmatch(t["text"].strip()) for t in rows[0]["top_tokens"])


@pytest.mark.parametrize("by", ["precision", "recall", "cosine", "auroc"])
@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_search_by_each_metric_and_engine(planted, by, engine):
    from tokrex.corpus import open_corpus
    from tokrex.store import connect, open_firings

    corpus = open_corpus(planted.store)
    firings = open_firings(corpus, planted.sae_id)
    con = connect(corpus, firings) if engine == "duckdb" else None
    cfg = SearchConfig(by=by, top=6, min_fires=2, engine=engine, top_tokens=0)
    result = search_firings(CAP, corpus, firings, cfg, con=con)
    positives = _cap(planted)
    want = brute_metrics(planted.acts, positives)
    want["auroc"] = brute_auroc(planted.acts, positives)
    ok = np.flatnonzero(want["n_fires"] >= 2)
    expect = ok[np.lexsort((ok, -want[by][ok]))][:6]
    assert result.latents.column("latent").to_pylist() == expect.tolist()
    np.testing.assert_allclose(result.latents.column(by).to_numpy(), want[by][expect], rtol=1e-9)
    assert 15 not in result.latents.column("latent").to_pylist()  # never fires: below --min-fires


def test_threshold_recounts_firings(planted):
    table = search(CAP, sae=planted.sae_id, store=planted.store, top=0, min_fires=0, threshold=2.2)
    want = brute_metrics(planted.acts, _cap(planted), threshold=2.2)
    for r in table.to_pylist():
        assert (r["tp"], r["fp"], r["n_fires"]) == (want["tp"][r["latent"]], want["fp"][r["latent"]], want["n_fires"][r["latent"]])


def test_holes_show_the_absorbing_latent(planted):
    table = search(CAP, sae=planted.sae_id, store=planted.store, top=16, holes=True, holes_for=16, holes_top=3)
    rows = {r["latent"]: r for r in table.to_pylist()}
    positives = _cap(planted)
    l5 = rows[5]
    assert l5["fn"] == len(positives) // 2
    first = l5["holes"][0]
    # L0 covers the whole hole; L9 covers all of it too (it fires exactly where L5 is silent)
    assert {h["latent"] for h in l5["holes"][:2]} == {0, 9}
    assert first["count"] == l5["fn"] and first["share"] == 1.0
    assert rows[0]["holes"] == []  # L0 misses nothing


def test_cover_steps(planted):
    table = search(CAP, sae=planted.sae_id, store=planted.store, cover=3, min_fires=1)
    cover = search_info(table)["cover"]
    assert cover[0]["latent"] == 0 and cover[0]["f1"] == 1.0
    assert len(cover) == 1  # nothing improves on a perfect F1
    # capitalized words or numbers: the latent covering more of them first, then the other one
    table = search('"[A-Z][a-z]+" | "\\d+"', sae=planted.sae_id, store=planted.store, cover=4)
    cover = search_info(table)["cover"]
    n_cap, n_digit = (planted.acts[:, 0] > 0).sum(), (planted.acts[:, 2] > 0).sum()
    assert [s["latent"] for s in cover] == ([0, 2] if n_cap > n_digit else [2, 0])
    assert cover[0]["f1"] < cover[1]["f1"] == 1.0
    assert cover[1]["fn"] == 0 and cover[1]["fp"] == 0 and cover[1]["step"] == 2


def test_latent_atom_in_pattern(planted):
    # capitalized tokens where L5 is silent: exactly L9's firings
    table = search('["[A-Z][a-z]+" & !L5]', sae=planted.sae_id, store=planted.store, top=3)
    info = search_info(table)
    cap = _cap(planted)
    assert info["n_positives"] == len(cap) - (planted.acts[cap, 5] > 0).sum()
    assert table.to_pylist()[0]["latent"] == 9 and table.to_pylist()[0]["f1"] == 1.0
    # thresholded atom
    table = search("L0>2.4", sae=planted.sae_id, store=planted.store, top=1)
    assert search_info(table)["n_positives"] == (planted.acts[:, 0].astype(float) > 2.4).sum()


def test_unknown_latent_atom(planted):
    with pytest.raises(PatternError) as err:
        search('["[A-Z][a-z]+" & !L99]', sae=planted.sae_id, store=planted.store)
    assert "L99 does not exist" in err.value.message and "16 latents" in err.value.message
    assert err.value.pos == '["[A-Z][a-z]+" & !L99]'.index("L99")


def test_empty_match_set(planted):
    table = search('"zzzqqq"', sae=planted.sae_id, store=planted.store)
    assert table.num_rows == 0
    assert search_info(table)["n_positives"] == 0
    assert "f1" in table.column_names


def test_pattern_error_propagates(planted):
    with pytest.raises(PatternSyntaxError):
        search('"unclosed', sae=planted.sae_id, store=planted.store)


def test_bad_option_names_and_values(planted):
    with pytest.raises(TypeError, match="unknown search option"):
        search(CAP, sae=planted.sae_id, store=planted.store, bogus=1)
    with pytest.raises(ValueError):
        search(CAP, sae=planted.sae_id, store=planted.store, by="nope")


def test_default_store(planted, monkeypatch, tmp_path):
    monkeypatch.setenv("TOKREX_STORE", str(planted.store))
    assert search_info(search(CAP, sae=planted.sae_id))["n_positives"] > 0
    monkeypatch.delenv("TOKREX_STORE")
    monkeypatch.setenv("TOKREX_HOME", str(tmp_path))
    with pytest.raises(UsageError, match="No store given"):
        search(CAP, sae=planted.sae_id)


def test_search_over_in_memory_firings(planted):
    from tokrex.corpus import open_corpus

    corpus = open_corpus(planted.store)
    f = ArrayFirings.from_dense(planted.acts, groups=GROUPS)
    table = search(CAP, sae=f, store=corpus, top=N_LATENTS, min_fires=0)
    assert table.num_rows == N_LATENTS and table.to_pylist()[0]["latent"] == 0


def test_top_level_api_is_the_same_function(planted):
    import tokrex

    table = tokrex.search(CAP, sae=planted.sae_id, store=planted.store, top=2)
    assert table.num_rows == 2 and search_info(table)["sae"] == SAE_ID


@pytest.mark.parametrize(
    "command, config",
    [("search", "tokrex.query.config:SearchConfig"), ("latent", "tokrex.query.latent:LatentConfig")],
)
def test_every_config_field_is_a_cli_option_with_help(command, config):
    import dataclasses
    import importlib

    import typer.main

    from tokrex.cli.app import app

    module, name = config.split(":")
    cls = getattr(importlib.import_module(module), name)
    cmd = typer.main.get_command(app).get_command(None, command)
    options = {opt: p for p in cmd.params for opt in getattr(p, "opts", [])}
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        assert flag in options, flag
        assert options[flag].help


def test_sae_id_cache_follows_the_files(planted, tmp_path):
    import os

    from tokrex.corpus import open_corpus
    from tokrex.query.resolve import cached_sae_id, remember_sae_id

    corpus = open_corpus(planted.store)
    folder = tmp_path / "sae"
    folder.mkdir()
    (folder / "cfg.json").write_text("{}")
    (folder / "sae.safetensors").write_bytes(b"x" * 10)
    assert cached_sae_id(corpus, folder) is None
    remember_sae_id(corpus, folder, folder, "0123456789abcdef")
    assert cached_sae_id(corpus, folder) == "0123456789abcdef"
    assert cached_sae_id(corpus, folder / "cfg.json") is None  # another path, not remembered
    (folder / "sae.safetensors").write_bytes(b"y" * 11)
    os.utime(folder / "sae.safetensors", ns=(1, 1))
    assert cached_sae_id(corpus, folder) is None
