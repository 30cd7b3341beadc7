"""Each foreign-format loader gives the encodings (and reconstructions) of the library that saved the SAE."""

from __future__ import annotations

import json

import pytest
import torch

from sae_format_fixtures import (
    D_IN,
    N,
    dl_decode,
    dl_encode,
    dl_state,
    inputs,
    saelens_decode,
    saelens_encode,
    saelens_v6_cfg,
    saelens_weights,
    sparsify_cfg,
    sparsify_decode,
    sparsify_encode,
    sparsify_weights,
    write_dl,
    write_saelens,
    write_sparsify_run,
)
from tokrex.sae import load_sae
from tokrex.sae.load import detect_format, sae_id

ATOL = 1e-5


def close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL) -> None:
    assert a.shape == b.shape
    assert torch.allclose(a, b, atol=atol, rtol=1e-5), (a - b).abs().max()


def check_sparsity_pattern(ours: torch.Tensor, ref: torch.Tensor) -> None:
    """Same active latents (exact zeros agree), not only close values."""
    assert torch.equal(ours != 0, ref != 0)


# ------------------------------------------------------------------ SAELens
SAELENS_CASES = {
    "v6-standard-no-bdec": (
        lambda: saelens_v6_cfg("standard", apply_b_dec_to_input=False),
        lambda: saelens_weights(1),
        (3, "resid_post"),
    ),
    "v6-topk-rescaled": (
        lambda: saelens_v6_cfg("topk", k=4, rescale_acts_by_decoder_norm=True, hook_name="blocks.1.hook_mlp_out"),
        lambda: saelens_weights(2),
        (1, "mlp_out"),
    ),
    "v6-jumprelu": (
        lambda: saelens_v6_cfg("jumprelu", hook_name="blocks.2.hook_resid_pre"),
        lambda: saelens_weights(3, jumprelu=True),
        (1, "resid_post"),
    ),
    "v6-jumprelu-log-threshold": (
        lambda: saelens_v6_cfg("jumprelu", hook_name="blocks.0.hook_attn_out"),
        lambda: saelens_weights(4, jumprelu=True, log_threshold=True),
        (0, "attn_out"),
    ),
    "v6-batchtopk-training": (
        lambda: saelens_v6_cfg("batchtopk", k=3.0, rescale_acts_by_decoder_norm=True, decoder_init_norm=0.1),
        lambda: {**saelens_weights(5), "topk_threshold": torch.tensor(0.2, dtype=torch.double)},
        (3, "resid_post"),
    ),
    "pre6-v3-flat-relu": (
        lambda: {
            "model_name": "gpt2-small",
            "hook_point": "blocks.5.hook_resid_pre",
            "hook_point_layer": 5,
            "hook_point_head_index": None,
            "d_in": D_IN,
            "d_sae": N,
            "dtype": "torch.float32",
            "device": "cuda",
            "activation_fn_str": "relu",
            "apply_b_dec_to_input": True,
            "normalize_activations": False,
            "context_size": 128,
            "sae_lens_training_version": "3.5.0",
        },
        lambda: saelens_weights(6),
        (4, "resid_post"),
    ),
    "pre6-v4-topk-kwargs": (
        lambda: {
            "architecture": "standard",
            "model_name": "pythia-70m",
            "hook_name": "blocks.1.hook_attn_out",
            "hook_layer": 1,
            "d_in": D_IN,
            "d_sae": N,
            "dtype": "float32",
            "activation_fn_str": "topk",
            "activation_fn_kwargs": {"k": 5},
            "apply_b_dec_to_input": False,
            "normalize_activations": "none",
            "sae_lens_training_version": "4.1.0",
        },
        lambda: saelens_weights(7),
        (1, "attn_out"),
    ),
    "pre6-v5-jumprelu": (
        lambda: {
            "architecture": "jumprelu",
            "model_name": "gemma-2-2b",
            "hook_name": "blocks.12.hook_resid_post",
            "hook_layer": 12,
            "d_in": D_IN,
            "d_sae": N,
            "dtype": "float32",
            "activation_fn_str": "relu",
            "apply_b_dec_to_input": False,
            "finetuning_scaling_factor": False,
            "normalize_activations": None,
            "sae_lens_training_version": None,
        },
        lambda: saelens_weights(8, jumprelu=True),
        (12, "resid_post"),
    ),
}


@pytest.mark.parametrize("case", sorted(SAELENS_CASES))
def test_saelens_matches_reference(tmp_path, case):
    make_cfg, make_sd, (layer, hook) = SAELENS_CASES[case]
    cfg, sd = make_cfg(), make_sd()
    folder = write_saelens(tmp_path / case, cfg, sd)
    sae = load_sae(folder, device="cpu")
    x = inputs()
    ref = saelens_encode(cfg, sd, x)
    z = sae.encode(x)
    close(z, ref)
    check_sparsity_pattern(z, ref)
    assert (z >= 0).all()
    close(sae.decode(z), saelens_decode(cfg, sd, ref), atol=1e-4)
    assert sae.meta.format == "saelens"
    assert (sae.meta.layer, sae.meta.hook) == (layer, hook)
    assert sae.meta.model == (cfg.get("metadata") or cfg).get("model_name")
    assert sae.meta.source == str(folder)


def test_saelens_topk_has_exactly_k(tmp_path):
    cfg, sd = saelens_v6_cfg("topk", k=4), saelens_weights(9)
    sd["b_enc"] += 2.0  # every pre-activation positive: exactly k survive
    sae = load_sae(write_saelens(tmp_path / "s", cfg, sd), device="cpu")
    assert ((sae.encode(inputs()) != 0).sum(-1) == 4).all()
    assert sae.arch.activation == "topk" and sae.arch.k == 4


def test_saelens_matryoshka_widths_become_groups(tmp_path):
    cfg = saelens_v6_cfg("matryoshka_batchtopk", k=4.0, matryoshka_widths=[8, 20], rescale_acts_by_decoder_norm=False)
    sd = {**saelens_weights(10), "topk_threshold": torch.tensor(0.1, dtype=torch.double)}
    sae = load_sae(write_saelens(tmp_path / "m", cfg, sd), device="cpu")
    assert sae.arch.groups == [8, 20, N]
    assert sae.arch.activation == "batchtopk" and sae.arch.k == 4
    close(sae.encode(inputs()), saelens_encode(cfg, sd, inputs()))


def test_saelens_finetuning_scaling_factor_is_folded(tmp_path):
    cfg = saelens_v6_cfg("standard")
    sd = saelens_weights(11)
    sd["scaling_factor"] = torch.rand(N, generator=torch.Generator().manual_seed(3)) + 0.5
    sae = load_sae(write_saelens(tmp_path / "f", cfg, sd), device="cpu")
    x = inputs()
    z = sae.encode(x)
    close(z, saelens_encode(cfg, sd, x))
    close(sae.decode(z), saelens_decode(cfg, sd, z), atol=1e-4)


def test_saelens_activation_scaler_becomes_input_scale(tmp_path):
    """A mid-training checkpoint: weights not yet folded, the factor in activation_scaler.json."""
    cfg = saelens_v6_cfg("standard", normalize_activations="expected_average_only_in")
    sd = saelens_weights(12)
    folder = write_saelens(tmp_path / "a", cfg, sd)
    (folder / "activation_scaler.json").write_text(json.dumps({"scaling_factor": 2.5}))
    sae = load_sae(folder, device="cpu")
    x = inputs()
    assert sae.arch.input_scale == 2.5
    z = sae.encode(x)
    close(z, saelens_encode(cfg, sd, x, scaler=2.5))
    close(sae.decode(z), saelens_decode(cfg, sd, z, scaler=2.5), atol=1e-4)


# ------------------------------------------------------------------ sparsify
def test_sparsify_subfolder_and_parent(tmp_path):
    sd = sparsify_weights(20)
    run = write_sparsify_run(tmp_path / "run", {"layers.3": sd})
    x = inputs()
    for path in (run / "layers.3", run):  # the hookpoint folder, or a run with exactly one
        sae = load_sae(path, device="cpu")
        ref = sparsify_encode(sparsify_cfg(), sd, x)
        z = sae.encode(x)
        close(z, ref)
        check_sparsity_pattern(z, ref)
        close(sae.decode(z), sparsify_decode(sd, ref), atol=1e-4)
        assert (sae.meta.format, sae.meta.layer, sae.meta.hook) == ("sparsify", 3, "resid_post")
        assert sae.meta.model == "EleutherAI/tiny-model" and sae.meta.ctx == 64
        assert sae.arch.activation == "topk" and sae.arch.k == 4 and sae.arch.apply_b_dec_to_input


def test_sparsify_d_in_inferred_and_mlp_hookpoint(tmp_path):
    sd = sparsify_weights(21)
    cfg = sparsify_cfg(d_in=None, num_latents=N, k=6)
    run = write_sparsify_run(tmp_path / "run", {"gpt_neox.layers.1.mlp": sd}, cfg=cfg)
    sae = load_sae(run / "gpt_neox.layers.1.mlp", device="cpu")
    assert (sae.d_in, sae.n_latents, sae.arch.k) == (D_IN, N, 6)
    assert (sae.meta.layer, sae.meta.hook) == (1, "mlp_out")
    close(sae.encode(inputs()), sparsify_encode(cfg, sd, inputs()))


# ------------------------------------------------------------------ dictionary_learning
DL_CLASSES = [
    "AutoEncoder",
    "AutoEncoderNew",
    "AutoEncoderTopK",
    "BatchTopKSAE",
    "MatryoshkaBatchTopKSAE",
    "JumpReluAutoEncoder",
]


@pytest.mark.parametrize("cls", DL_CLASSES)
def test_dictionary_learning_matches_reference(tmp_path, cls):
    sd = dl_state(cls, seed=30 + DL_CLASSES.index(cls))
    folder = write_dl(tmp_path / cls, cls, sd)
    sae = load_sae(folder, device="cpu")
    x = inputs()
    ref = dl_encode(cls, sd, x)
    z = sae.encode(x)
    close(z, ref)
    check_sparsity_pattern(z, ref)
    close(sae.decode(z), dl_decode(cls, sd, ref), atol=1e-4)
    assert sae.meta.format == "dictionary_learning"
    assert (sae.meta.model, sae.meta.layer, sae.meta.hook, sae.meta.ctx) == (
        "EleutherAI/pythia-70m-deduped",
        2,
        "resid_post",
        64,
    )
    if cls == "MatryoshkaBatchTopKSAE":
        assert sae.arch.groups == [4, 16, 32]
    if cls in ("AutoEncoderTopK", "BatchTopKSAE", "MatryoshkaBatchTopKSAE"):
        assert sae.arch.k == 4


def test_dictionary_learning_training_backup_uses_norm_factor(tmp_path):
    """ae.pt saved mid-training: {"ae": state, "norm_factor": f} with biases for normalized inputs."""
    cls = "BatchTopKSAE"
    sd = dl_state(cls, seed=40)
    backup = {"step": 10, "ae": sd, "optimizer": {"state": {}, "param_groups": []}, "config": {}, "norm_factor": 4.0}
    sae = load_sae(write_dl(tmp_path / "b", cls, backup), device="cpu")
    x = inputs() * 4.0
    ref = dl_encode(cls, sd, x / 4.0)
    close(sae.encode(x), ref)
    close(sae.decode(ref), dl_decode(cls, sd, ref) * 4.0, atol=1e-4)


def test_dictionary_learning_trainer_subfolder(tmp_path):
    """A trainSAE save_dir with one trainer_0/ folder is found from the parent."""
    write_dl(tmp_path / "run" / "trainer_0", "AutoEncoderTopK", dl_state("AutoEncoderTopK", 41))
    fmt, folder = detect_format(tmp_path / "run")
    assert fmt == "dictionary_learning" and folder.name == "trainer_0"


# ------------------------------------------------------------------ detection and identity
def test_detect_each_format_and_file_paths(tmp_path):
    write_saelens(tmp_path / "sl", saelens_v6_cfg("standard"), saelens_weights(50))
    write_sparsify_run(tmp_path / "sp", {"layers.0": sparsify_weights(51)})
    write_dl(tmp_path / "dl", "AutoEncoder", dl_state("AutoEncoder", 52))
    assert detect_format(tmp_path / "sl") == ("saelens", tmp_path / "sl")
    assert detect_format(tmp_path / "sp" / "layers.0") == ("sparsify", tmp_path / "sp" / "layers.0")
    assert detect_format(tmp_path / "dl") == ("dictionary_learning", tmp_path / "dl")
    assert detect_format(tmp_path / "dl" / "ae.pt") == ("dictionary_learning", tmp_path / "dl")
    assert detect_format(tmp_path / "sl" / "cfg.json")[0] == "saelens"


def test_sae_id_is_stable_and_content_based(tmp_path):
    cfg, sd = saelens_v6_cfg("standard"), saelens_weights(60)
    a = load_sae(write_saelens(tmp_path / "a", cfg, sd), device="cpu")
    b = load_sae(write_saelens(tmp_path / "b", cfg, sd), device="cpu")
    ident = sae_id(a)
    assert len(ident) == 16 and int(ident, 16) >= 0
    assert sae_id(b) == ident  # same content, another folder
    sd2 = dict(sd, b_enc=sd["b_enc"] + 1e-3)
    c = load_sae(write_saelens(tmp_path / "c", cfg, sd2), device="cpu")
    assert sae_id(c) != ident
    # the same weights stored in bfloat16 and in float32 hash alike once loaded as float32
    bf = {k: v.to(torch.bfloat16) for k, v in sd.items()}
    d = load_sae(write_saelens(tmp_path / "d", cfg, bf), device="cpu")
    e = load_sae(write_saelens(tmp_path / "e", cfg, {k: v.float() for k, v in bf.items()}), device="cpu")
    assert sae_id(d) == sae_id(e)


def test_same_sae_in_two_formats_has_one_id(tmp_path):
    """dictionary_learning AutoEncoderNew and SAELens standard (no b_dec on input) are the same model."""
    sd = dl_state("AutoEncoderNew", 61)
    dl = load_sae(write_dl(tmp_path / "dl", "AutoEncoderNew", sd), device="cpu")
    weights = {
        "W_enc": sd["encoder.weight"].T.contiguous(),
        "b_enc": sd["encoder.bias"],
        "W_dec": sd["decoder.weight"].T.contiguous(),
        "b_dec": sd["decoder.bias"],
    }
    cfg = saelens_v6_cfg("standard", apply_b_dec_to_input=False)
    sl = load_sae(write_saelens(tmp_path / "sl", cfg, weights), "cpu")
    assert sae_id(dl) == sae_id(sl)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sae_id_same_on_gpu(tmp_path):
    folder = write_saelens(tmp_path / "g", saelens_v6_cfg("jumprelu"), saelens_weights(62, jumprelu=True))
    cpu, gpu = load_sae(folder, device="cpu"), load_sae(folder, device="cuda")
    assert sae_id(cpu) == sae_id(gpu)
    x = inputs()
    close(gpu.encode(x.cuda()).cpu(), cpu.encode(x), atol=1e-4)
