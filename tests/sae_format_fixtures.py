"""Tiny SAE checkpoints written in each library's exact on-disk layout, and each library's forward pass.

The writers save what SAELens (``SAE.save_model`` / ``save_inference_model``), EleutherAI sparsify
(``SparseCoder.save_to_disk`` inside a training run folder) and dictionary_learning (``t.save`` of the
state dict + ``config.json`` from ``trainSAE``) save: the same file names, config keys, tensor names,
shapes and dtypes. The ``*_encode``/``*_decode`` functions re-implement each library's documented
forward pass independently of tokrex, so a loader is checked against the library, not against itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

D_IN, N = 16, 32


def rand(*shape: int, gen: torch.Generator, scale: float = 0.3) -> torch.Tensor:
    return torch.randn(*shape, generator=gen) * scale


def inputs(seed: int = 0, rows: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 + seed)
    return torch.randn(rows, D_IN, generator=g)


# ---------------------------------------------------------------- SAELens
def saelens_v6_cfg(architecture: str, **fields: Any) -> dict[str, Any]:
    """A cfg.json as SAELens 6 ``SAEConfig.to_dict()`` writes it."""
    metadata = {
        "sae_lens_version": "6.5.1",
        "sae_lens_training_version": "6.5.1",
        "model_name": fields.pop("model_name", "tiny-gpt2"),
        "hook_name": fields.pop("hook_name", "blocks.3.hook_resid_post"),
        "hook_head_index": None,
        "model_class_name": "HookedTransformer",
        "prepend_bos": True,
        "context_size": fields.pop("context_size", 128),
        "dataset_path": "some/dataset",
        "model_from_pretrained_kwargs": {},
    }
    metadata.update(fields.pop("metadata", {}))
    cfg = {
        "d_in": D_IN,
        "d_sae": N,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": metadata,
        "architecture": architecture,
    }
    cfg.update(fields)
    return cfg


def saelens_weights(seed: int, *, jumprelu: bool = False, log_threshold: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {
        "W_enc": rand(D_IN, N, gen=g),
        "b_enc": rand(N, gen=g, scale=0.1),
        "W_dec": rand(N, D_IN, gen=g),
        "b_dec": rand(D_IN, gen=g, scale=0.2),
    }
    if jumprelu:
        thr = torch.rand(N, generator=g) * 0.4
        thr[:3] = torch.tensor([-0.2, 0.0, -0.05])  # negative thresholds occur in the wild
        if log_threshold:
            sd["log_threshold"] = (torch.rand(N, generator=g) * 0.4 + 0.01).log()
        else:
            sd["threshold"] = thr
    return sd


def write_saelens(folder: Path, cfg: dict[str, Any], sd: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / "sae_weights.safetensors"))
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return folder


def saelens_encode(cfg: dict[str, Any], sd: dict[str, torch.Tensor], x: torch.Tensor, scaler: float | None = None):
    """SAELens inference: process_sae_in, hidden_pre, architecture-specific activation."""
    arch = cfg.get("architecture", "standard")
    act_fn = cfg.get("activation_fn", cfg.get("activation_fn_str", "relu"))
    k = cfg.get("k", (cfg.get("activation_fn_kwargs") or {}).get("k"))
    if act_fn == "topk" and arch == "standard":
        arch = "topk"
    if scaler is not None:  # ActivationScaler.scale
        x = x * scaler
    sae_in = x - sd["b_dec"] * cfg.get("apply_b_dec_to_input", True)
    hidden_pre = sae_in @ sd["W_enc"] + sd["b_enc"]
    if arch in ("topk", "batchtopk", "matryoshka_batchtopk") and cfg.get("rescale_acts_by_decoder_norm"):
        hidden_pre = hidden_pre * sd["W_dec"].norm(dim=-1)
    if arch == "topk":
        vals, idx = torch.topk(hidden_pre, k=int(k), dim=-1, sorted=False)
        return torch.zeros_like(hidden_pre).scatter(-1, idx, vals.relu())
    if arch == "jumprelu":
        thr = sd["threshold"] if "threshold" in sd else sd["log_threshold"].exp()
        return torch.relu(hidden_pre) * (hidden_pre > thr).to(hidden_pre.dtype)
    if arch in ("batchtopk", "matryoshka_batchtopk"):  # saved for inference as JumpReLU(topk_threshold)
        thr = torch.ones_like(sd["b_enc"]) * sd["topk_threshold"].item()
        return torch.relu(hidden_pre) * (hidden_pre > thr).to(hidden_pre.dtype)
    return torch.relu(hidden_pre)


def saelens_decode(cfg: dict[str, Any], sd: dict[str, torch.Tensor], z: torch.Tensor, scaler: float | None = None):
    if cfg.get("architecture") in ("topk", "batchtopk", "matryoshka_batchtopk") and cfg.get(
        "rescale_acts_by_decoder_norm"
    ):
        z = z / sd["W_dec"].norm(dim=-1)
    W_dec = sd["W_dec"]
    if "scaling_factor" in sd:
        z = z * sd["scaling_factor"]
    out = z @ W_dec + sd["b_dec"]
    return out / scaler if scaler is not None else out


# ---------------------------------------------------------------- EleutherAI sparsify
def sparsify_cfg(**fields: Any) -> dict[str, Any]:
    """cfg.json as ``SparseCoder.save_to_disk`` writes it: SparseCoderConfig fields + d_in."""
    cfg = {
        "activation": "topk",
        "expansion_factor": 2,
        "normalize_decoder": True,
        "num_latents": 0,
        "k": 4,
        "multi_topk": False,
        "skip_connection": False,
        "transcode": False,
        "d_in": D_IN,
    }
    cfg.update(fields)
    return {k: v for k, v in cfg.items() if v is not None}


def sparsify_weights(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    enc = rand(N, D_IN, gen=g)
    W_dec = enc.clone() + rand(N, D_IN, gen=g, scale=0.05)
    W_dec = W_dec / W_dec.norm(dim=1, keepdim=True)
    bias = rand(N, gen=g, scale=0.1)
    return {"encoder.weight": enc, "encoder.bias": bias, "W_dec": W_dec, "b_dec": rand(D_IN, gen=g)}


def write_sparsify_run(
    run: Path, hookpoints: dict[str, dict[str, torch.Tensor]], cfg: dict[str, Any] | None = None
) -> Path:
    """A training run folder: RUN/config.json + RUN/<hookpoint>/{cfg.json, sae.safetensors}."""
    run.mkdir(parents=True, exist_ok=True)
    train_cfg = {
        "sae": {k: v for k, v in sparsify_cfg().items() if k != "d_in"},
        "batch_size": 32,
        "hookpoints": list(hookpoints),
        "model": "EleutherAI/tiny-model",
        "dataset": "some/dataset",
        "ctx_len": 64,
    }
    (run / "config.json").write_text(json.dumps(train_cfg))
    for name, sd in hookpoints.items():
        folder = run / name
        folder.mkdir()
        save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / "sae.safetensors"))
        (folder / "cfg.json").write_text(json.dumps(cfg or sparsify_cfg()))
    return run


def sparsify_encode(cfg: dict[str, Any], sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """SparseCoder.encode: x - b_dec, linear, ReLU, top-k; returned densely."""
    pre = torch.relu(torch.nn.functional.linear(x - sd["b_dec"], sd["encoder.weight"], sd["encoder.bias"]))
    vals, idx = torch.topk(pre, cfg["k"], dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter(-1, idx, vals)


def sparsify_decode(sd: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    return z @ sd["W_dec"] + sd["b_dec"]


# ---------------------------------------------------------------- dictionary_learning
def dl_state(cls: str, seed: int, k: int = 4, group_sizes: tuple[int, ...] = (4, 12, 16)) -> dict[str, torch.Tensor]:
    """The state dict each dictionary_learning class saves (``ae.state_dict()``), with its key names."""
    g = torch.Generator().manual_seed(seed)
    if cls == "AutoEncoder":  # decoder columns deliberately not unit norm (April-update training)
        return {
            "bias": rand(D_IN, gen=g),
            "encoder.weight": rand(N, D_IN, gen=g),
            "encoder.bias": rand(N, gen=g, scale=0.1),
            "decoder.weight": rand(D_IN, N, gen=g) * (torch.rand(N, generator=g) + 0.5),
        }
    if cls == "AutoEncoderNew":
        return {
            "encoder.weight": rand(N, D_IN, gen=g),
            "encoder.bias": rand(N, gen=g, scale=0.1),
            "decoder.weight": rand(D_IN, N, gen=g),
            "decoder.bias": rand(D_IN, gen=g),
        }
    if cls in ("AutoEncoderTopK", "BatchTopKSAE"):
        return {
            "k": torch.tensor(k, dtype=torch.int),
            "threshold": torch.tensor(0.15 if cls == "BatchTopKSAE" else -1.0, dtype=torch.float32),
            "decoder.weight": rand(D_IN, N, gen=g),
            "encoder.weight": rand(N, D_IN, gen=g),
            "encoder.bias": rand(N, gen=g, scale=0.1),
            "b_dec": rand(D_IN, gen=g),
        }
    if cls == "MatryoshkaBatchTopKSAE":
        return {
            "k": torch.tensor(k, dtype=torch.int),
            "threshold": torch.tensor(0.1, dtype=torch.float32),
            "group_sizes": torch.tensor(list(group_sizes)),
            "W_enc": rand(D_IN, N, gen=g),
            "b_enc": rand(N, gen=g, scale=0.1),
            "W_dec": rand(N, D_IN, gen=g),
            "b_dec": rand(D_IN, gen=g),
        }
    if cls == "JumpReluAutoEncoder":
        thr = torch.rand(N, generator=g) * 0.3
        thr[0] = -0.1
        return {
            "W_enc": rand(D_IN, N, gen=g),
            "b_enc": rand(N, gen=g, scale=0.1),
            "W_dec": rand(N, D_IN, gen=g),
            "b_dec": rand(D_IN, gen=g),
            "threshold": thr,
        }
    raise ValueError(cls)


def dl_config(cls: str, **trainer: Any) -> dict[str, Any]:
    """config.json as ``trainSAE`` writes it: {"trainer": trainer.config, "buffer": data.config}."""
    base = {
        "trainer_class": cls.replace("SAE", "Trainer").replace("AutoEncoder", "Trainer"),
        "dict_class": cls,
        "lr": 1e-4,
        "steps": 100,
        "seed": 0,
        "activation_dim": D_IN,
        "dict_size": N,
        "device": "cpu",
        "layer": 2,
        "lm_name": "EleutherAI/pythia-70m-deduped",
        "wandb_name": cls,
        "submodule_name": "resid_post_layer_2",
    }
    if cls in ("AutoEncoderTopK", "BatchTopKSAE", "MatryoshkaBatchTopKSAE"):
        base["k"] = 4
    if cls == "MatryoshkaBatchTopKSAE":
        base["group_fractions"] = [0.125, 0.375, 0.5]
        base["group_sizes"] = [4, 12, 16]
    base.update(trainer)
    return {"trainer": base, "buffer": {"d_submodule": D_IN, "io": "out", "n_ctxs": 100, "ctx_len": 64}}


def write_dl(folder: Path, cls: str, state: dict[str, Any], config: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "ae.pt")
    (folder / "config.json").write_text(json.dumps(config or dl_config(cls), indent=4))
    return folder


def dl_encode(cls: str, sd: dict[str, torch.Tensor], x: torch.Tensor, *, normalize_decoder: bool = True):
    """Each class's ``encode`` (after ``from_pretrained``, which normalizes AutoEncoder's decoder)."""
    lin = torch.nn.functional.linear
    if cls == "AutoEncoder":
        w, b = sd["encoder.weight"], sd["encoder.bias"]
        if normalize_decoder:
            norms = sd["decoder.weight"].norm(dim=0)
            w, b = w * norms[:, None], b * norms
        return torch.relu(lin(x - sd["bias"], w, b))
    if cls == "AutoEncoderNew":
        return torch.relu(lin(x, sd["encoder.weight"], sd["encoder.bias"]))
    if cls == "AutoEncoderTopK":
        post = torch.relu(lin(x - sd["b_dec"], sd["encoder.weight"], sd["encoder.bias"]))
        top = post.topk(int(sd["k"]), sorted=False, dim=-1)
        return torch.zeros_like(post).scatter_(-1, top.indices, top.values)
    if cls == "BatchTopKSAE":
        post = torch.relu(lin(x - sd["b_dec"], sd["encoder.weight"], sd["encoder.bias"]))
        return post * (post > sd["threshold"])
    if cls == "MatryoshkaBatchTopKSAE":
        post = torch.relu((x - sd["b_dec"]) @ sd["W_enc"] + sd["b_enc"])
        out = post * (post > sd["threshold"])
        out[:, int(sd["group_sizes"].sum()):] = 0
        return out
    if cls == "JumpReluAutoEncoder":  # apply_b_dec_to_input is False
        pre = x @ sd["W_enc"] + sd["b_enc"]
        return torch.relu(pre * (pre > sd["threshold"]))
    raise ValueError(cls)


def dl_decode(cls: str, sd: dict[str, torch.Tensor], f: torch.Tensor, *, normalize_decoder: bool = True):
    lin = torch.nn.functional.linear
    if cls == "AutoEncoder":
        w = sd["decoder.weight"]
        if normalize_decoder:
            w = w / w.norm(dim=0, keepdim=True)
        return lin(f, w) + sd["bias"]
    if cls == "AutoEncoderNew":
        return lin(f, sd["decoder.weight"], sd["decoder.bias"])
    if cls in ("AutoEncoderTopK", "BatchTopKSAE"):
        return lin(f, sd["decoder.weight"]) + sd["b_dec"]
    return f @ sd["W_dec"] + sd["b_dec"]
