"""Export to SAELens keeps encodings; tokrex checkpoints load through load_sae."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from sae_format_fixtures import D_IN, N, inputs, saelens_decode, saelens_encode
from tokrex.errors import SaeError
from tokrex.sae import Sae, SaeArch, load_sae
from tokrex.sae.load import export_sae, sae_id, sae_info
from tokrex.sae.meta import SaeMeta

# The exact tensors each SAELens inference class holds (load_state_dict is strict).
SAELENS_KEYS = {
    "standard": {"W_enc", "b_enc", "W_dec", "b_dec"},
    "topk": {"W_enc", "b_enc", "W_dec", "b_dec"},
    "jumprelu": {"W_enc", "b_enc", "W_dec", "b_dec", "threshold"},
}


def random_sae(seed: int, **arch) -> Sae:
    g = torch.Generator().manual_seed(seed)
    sae = Sae(SaeArch(d_in=D_IN, n_latents=N, **arch))
    with torch.no_grad():
        for p in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec):
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        sae.threshold.copy_(torch.rand(N, generator=g) * 0.3)
    sae.meta = SaeMeta(format="tokrex", model="tiny-gpt2", layer=1, hook="resid_post", ctx=32, tokenizer_hash="abc123")
    return sae


EXPORT_CASES = {
    "relu": dict(activation="relu"),
    "topk-scaled": dict(activation="topk", k=5, input_scale=2.5),
    "jumprelu-no-bdec": dict(activation="jumprelu", apply_b_dec_to_input=False),
    "batchtopk-matryoshka": dict(activation="batchtopk", k=4, groups=[4, 12, N], input_scale=0.4),
}


@pytest.mark.parametrize("case", sorted(EXPORT_CASES))
def test_export_saelens_round_trip(tmp_path, case):
    sae = random_sae(len(case), **EXPORT_CASES[case])
    out = export_sae(sae, tmp_path / "out")
    cfg = json.loads((out / "cfg.json").read_text())
    sd = load_file(str(out / "sae_weights.safetensors"))

    # a SAELens v6 inference config: version >= 6 in metadata, an architecture SAELens registers
    assert int(cfg["metadata"]["sae_lens_version"].split(".")[0]) >= 6
    assert set(sd) == SAELENS_KEYS[cfg["architecture"]]
    assert (cfg["d_in"], cfg["d_sae"], cfg["normalize_activations"]) == (D_IN, N, "none")
    assert cfg["metadata"]["model_name"] == "tiny-gpt2"
    assert cfg["metadata"]["hook_name"] == "blocks.1.hook_resid_post"
    assert cfg["metadata"]["tokrex_sae_id"] == sae_id(sae)

    x = inputs(rows=128) * 1.5
    with torch.no_grad():
        z = sae.encode(x)
        # what SAELens itself computes from the exported files
        close = dict(atol=1e-5, rtol=1e-5)
        assert torch.allclose(saelens_encode(cfg, sd, x), z, **close)
        assert torch.allclose(saelens_decode(cfg, sd, z), sae.decode(z), atol=1e-4)
        # and loading the export back gives the same encodings
        back = load_sae(out, device="cpu")
        assert torch.allclose(back.encode(x), z, **close)
        assert torch.equal(back.encode(x) != 0, z != 0)
    assert back.arch.groups == sae.arch.groups
    assert (back.meta.model, back.meta.layer, back.meta.hook, back.meta.ctx) == ("tiny-gpt2", 1, "resid_post", 32)
    assert back.meta.tokenizer_hash == "abc123"


def test_export_relu_keeps_sae_id(tmp_path):
    sae = random_sae(7, activation="relu")
    assert sae_id(load_sae(export_sae(sae, tmp_path / "o"), device="cpu")) == sae_id(sae)


def test_export_refuses_non_empty_folder_and_negative_jumprelu(tmp_path):
    sae = random_sae(8, activation="relu")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    with pytest.raises(SaeError, match="not empty"):
        export_sae(sae, tmp_path / "busy")
    export_sae(sae, tmp_path / "busy", force=True)
    assert not (tmp_path / "busy" / "keep.txt").exists()
    assert (tmp_path / "busy" / "sae_weights.safetensors").is_file()

    neg = random_sae(9, activation="jumprelu")
    with torch.no_grad():
        neg.threshold[0] = -0.5
    with pytest.raises(SaeError, match="negative JumpReLU thresholds"):
        export_sae(neg, tmp_path / "neg")
    assert not (tmp_path / "neg").exists()  # nothing half-written


def test_hook_names_round_trip(tmp_path):
    for layer, hook, name in [
        (4, "mlp_out", "blocks.4.hook_mlp_out"),
        (0, "attn_out", "blocks.0.hook_attn_out"),
        (-1, "resid_post", "blocks.0.hook_resid_pre"),
    ]:
        sae = random_sae(10, activation="relu")
        sae.meta.layer, sae.meta.hook = layer, hook
        out = export_sae(sae, tmp_path / name)
        assert json.loads((out / "cfg.json").read_text())["metadata"]["hook_name"] == name
        back = load_sae(out, device="cpu")
        assert (back.meta.layer, back.meta.hook) == (layer, hook)


# ------------------------------------------------------------------ tokrex checkpoints
checkpoint = pytest.importorskip("tokrex.sae.checkpoint")


def test_tokrex_checkpoint_through_load_sae(tmp_path):
    sae = random_sae(11, activation="batchtopk", k=4, groups=[8, N], input_scale=1.7)
    summary = {"fvu": 0.12, "l0": 4.1, "dead_fraction": 0.0}
    checkpoint.save_checkpoint(sae, sae.meta, tmp_path / "ck", train_summary=summary)
    back = load_sae(tmp_path / "ck", device="cpu")
    assert back.meta.format == "tokrex" and back.meta.source == str(tmp_path / "ck")
    x = inputs()
    with torch.no_grad():
        assert torch.equal(back.encode(x), sae.encode(x))
    assert sae_id(back) == sae_id(sae)
    info = sae_info(back)
    assert info["training"] == summary
    assert info["groups"] == [8, N] and info["n_levels"] == 2 and info["input_scale"] == pytest.approx(1.7)
    # and from there to SAELens, with the same encodings
    out = export_sae(back, tmp_path / "sl")
    with torch.no_grad():
        assert torch.allclose(load_sae(out, device="cpu").encode(x), sae.encode(x), atol=1e-5)
