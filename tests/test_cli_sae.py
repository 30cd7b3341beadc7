"""`tokrex sae info` and `tokrex sae export` through the CLI."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from sae_format_fixtures import (
    N,
    dl_state,
    inputs,
    saelens_encode,
    write_dl,
)
from tokrex.cli.app import app
from tokrex.sae import load_sae
from tokrex.sae.load import sae_id

ENV = {"COLUMNS": "120", "NO_COLOR": "1"}


def run(*args: str):
    return CliRunner().invoke(app, list(args), env=ENV)


def test_info_table(tmp_path):
    folder = write_dl(tmp_path / "m", "MatryoshkaBatchTopKSAE", dl_state("MatryoshkaBatchTopKSAE", 1))
    result = run("sae", "info", str(folder))
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in (
        "dictionary_learning",
        "EleutherAI/pythia-70m-deduped",
        "resid_post",
        f"d_in 16, {N} latents",
        "batchtopk",
        "3 levels, ends 4, 16, 32",
        "0.1 (every latent)",
        sae_id(load_sae(folder, device="cpu")),
    ):
        assert expected in out, (expected, out)


def test_info_json(tmp_path):
    folder = write_dl(tmp_path / "j", "JumpReluAutoEncoder", dl_state("JumpReluAutoEncoder", 2))
    result = run("sae", "info", str(folder), "--format", "json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    sae = load_sae(folder, device="cpu")
    assert info["format"] == "dictionary_learning"
    where = (info["model"], info["layer"], info["hook"], info["ctx"])
    assert where == ("EleutherAI/pythia-70m-deduped", 2, "resid_post", 64)
    assert (info["d_in"], info["n_latents"], info["architecture"], info["k"]) == (16, N, "jumprelu", None)
    assert info["threshold"]["uniform"] is False
    assert info["threshold"]["min"] == 0.0  # the negative threshold clamps to 0 (same encodings)
    assert info["groups"] == [N] and info["n_levels"] == 1
    assert info["apply_b_dec_to_input"] is False and info["input_scale"] == 1.0
    assert info["sae_id"] == sae_id(sae)


def test_info_missing_path_is_one_error_line(tmp_path):
    result = run("sae", "info", str(tmp_path / "nothing"))
    assert result.exit_code == 1
    assert "Error:" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


def test_export_saelens(tmp_path):
    folder = write_dl(tmp_path / "b", "BatchTopKSAE", dl_state("BatchTopKSAE", 3))
    out = tmp_path / "exported"
    result = run("sae", "export", str(folder), "--format", "saelens", "--out", str(out))
    assert result.exit_code == 0, result.output
    cfg = json.loads((out / "cfg.json").read_text())
    assert cfg["architecture"] == "jumprelu"
    from safetensors.torch import load_file

    sd = load_file(str(out / "sae_weights.safetensors"))
    x = inputs()
    with torch.no_grad():
        assert torch.allclose(saelens_encode(cfg, sd, x), load_sae(folder, device="cpu").encode(x), atol=1e-5)
    info = json.loads(run("sae", "info", str(out), "--format", "json").stdout)
    assert info["format"] == "saelens" and info["layer"] == 2

    again = run("sae", "export", str(folder), "--format", "saelens", "--out", str(out))
    assert again.exit_code == 1 and "not empty" in again.output and "--force" in again.output
    assert run("sae", "export", str(folder), "--format", "saelens", "--out", str(out), "--force").exit_code == 0


def test_export_needs_out_and_a_known_format(tmp_path):
    folder = write_dl(tmp_path / "a", "AutoEncoder", dl_state("AutoEncoder", 4))
    assert run("sae", "export", str(folder)).exit_code == 2
    assert run("sae", "export", str(folder), "--format", "onnx", "--out", str(tmp_path / "o")).exit_code == 2
    assert not (tmp_path / "o").exists()
    # saelens is the default (and only) target
    assert run("sae", "export", str(folder), "--out", str(tmp_path / "o")).exit_code == 0
    assert (tmp_path / "o" / "sae_weights.safetensors").is_file()


def test_info_shows_training_metrics_per_prefix(tmp_path):
    """A tokrex checkpoint's training summary: the held-out FVU and L0 of each prefix/group, one row each."""
    from tokrex.sae import Sae, SaeArch, save_checkpoint
    from tokrex.sae.meta import SaeMeta

    sae = Sae(SaeArch(d_in=8, n_latents=32, activation="batchtopk", k=4, groups=[8, 32]))
    levels = [{"prefix": 8, "fvu": 0.5, "l0": 1.5}, {"prefix": 32, "fvu": 0.25, "l0": 4.0}]
    summary = {"objective": "matryoshka-groups", "steps": 100, "tokens_per_s": 1234.5, "dead_latents": 3,
               "holdout": {"n_tokens": 2048, "fvu": 0.25, "l0": 4.0, "prefixes": levels, "silent_latents": 2}}
    meta = SaeMeta(format="tokrex", model="/models/tiny", layer=1, hook="resid_post", ctx=128)
    save_checkpoint(sae, tmp_path / "ck", meta=meta, train_summary=summary)
    result = run("sae", "info", str(tmp_path / "ck"))
    assert result.exit_code == 0, result.output
    rows = [" ".join(line.split()) for line in result.output.splitlines()]
    for expected in ("model /models/tiny", "layer 1", "width d_in 8, 32 latents", "architecture batchtopk",
                     "groups 2 levels, ends 8, 32", "training: objective matryoshka-groups", "training: dead_latents 3",
                     "training: held-out FVU 0.25", "training: held-out prefix 8 FVU 0.5000, L0 1.50",
                     "training: held-out prefix 32 FVU 0.2500, L0 4.00"):
        assert expected in rows, (expected, result.output)
