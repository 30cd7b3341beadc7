"""dictionary_learning folders: ``ae.pt`` (a torch state dict) + ``config.json`` (``trainer.dict_class``).

Each class keeps its own key names and forward pass (``encoder``/``decoder`` are ``nn.Linear``, so
``encoder.weight`` is [n, d_in] and ``decoder.weight`` is [d_in, n]):

- ``AutoEncoder``: ``relu(encoder(x - bias))``, decode ``decoder(f) + bias``; its ``from_pretrained``
  normalizes decoder columns to unit norm and rescales the encoder to match (tokrex does the same);
- ``AutoEncoderNew``: ``relu(encoder(x))``, decode ``decoder(f)`` (with ``decoder.bias``);
- ``AutoEncoderTopK``: top-k of ``relu(encoder(x - b_dec))`` per row;
- ``BatchTopKSAE``: ``relu(encoder(x - b_dec))`` gated by the scalar ``threshold`` at inference;
- ``MatryoshkaBatchTopKSAE``: the same with ``W_enc`` [d_in, n], ``W_dec`` [n, d_in] and ``group_sizes``;
- ``JumpReluAutoEncoder``: ``relu(pre * (pre > threshold))`` with ``pre = x @ W_enc + b_enc`` (no b_dec
  subtraction: ``apply_b_dec_to_input`` is False and not saved).

Saved biases already include the activation norm factor (the trainer scales them before saving),
so the weights apply to raw activations. A mid-training backup (``{"ae": ..., "norm_factor": ...}``)
holds unscaled biases; its norm factor becomes the input scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokrex.errors import SaeError
from tokrex.sae.formats.common import (
    build_sae,
    positive_int,
    read_json,
    read_torch_state,
    require,
    scalar,
    tensor,
)
from tokrex.sae.meta import SaeMeta
from tokrex.sae.model import Sae, SaeArch

WEIGHTS = "ae.pt"
CONFIG = "config.json"
CLASSES = (
    "AutoEncoder",
    "AutoEncoderNew",
    "AutoEncoderTopK",
    "BatchTopKSAE",
    "MatryoshkaBatchTopKSAE",
    "JumpReluAutoEncoder",
)


def detect(folder: Path) -> bool:
    """True when ``folder`` holds a dictionary_learning SAE."""
    return (folder / WEIGHTS).is_file() and (folder / CONFIG).is_file()


def _linear_layout(state: dict[str, Any], path: Path, enc_bias: bool = True) -> tuple[int, int]:
    """(d_in, n) from ``encoder.weight`` [n, d_in]."""
    require(state, ["encoder.weight", "decoder.weight"] + (["encoder.bias"] if enc_bias else []), path)
    enc = state["encoder.weight"]
    if not isinstance(enc, torch.Tensor) or enc.ndim != 2:
        raise SaeError(f"{path}: encoder.weight should be a [dict_size, activation_dim] tensor.")
    return int(enc.shape[1]), int(enc.shape[0])


def _hook(trainer: dict[str, Any]) -> str:
    name = str(trainer.get("submodule_name") or "").lower()
    if "mlp" in name:
        return "mlp_out"
    if "attn" in name or "attention" in name:
        return "attn_out"
    return "resid_post"


def _k(state: dict[str, Any], trainer: dict[str, Any], path: Path) -> int:
    if "k" in state:
        k = positive_int(state["k"], "k", path)
        if trainer.get("k") is not None and positive_int(trainer["k"], "trainer.k", path) != k:
            raise SaeError(f"{path}: k={k} in the weights but k={trainer['k']} in config.json; they must agree.")
        return k
    if trainer.get("k") is None:
        raise SaeError(f"{path}: a top-k SAE needs k, and neither ae.pt nor config.json gives it.")
    return positive_int(trainer["k"], "trainer.k", path)


def load(folder: Path) -> Sae:
    """A dictionary_learning SAE folder as a tokrex ``Sae`` (float32, CPU) computing the same encodings."""
    path, config_path = folder / WEIGHTS, folder / CONFIG
    config = read_json(config_path)
    trainer = config.get("trainer")
    if not isinstance(trainer, dict) or "dict_class" not in trainer:
        raise SaeError(f"{config_path} has no trainer.dict_class; it is not a dictionary_learning config.")
    cls = trainer["dict_class"]
    if cls not in CLASSES:
        raise SaeError(f"{config_path}: dict_class {cls!r} is not supported (supported: {', '.join(CLASSES)}).")
    state = read_torch_state(path)
    notes: list[str] = []
    input_scale = 1.0
    if isinstance(state.get("ae"), dict):  # a training backup, saved before the biases are rescaled
        factor = state.get("norm_factor")
        state = dict(state["ae"])
        if factor is not None:
            input_scale = 1.0 / scalar(factor, "norm_factor", path)
            notes.append(f"training backup: inputs are divided by norm_factor={1.0 / input_scale}")
    elif trainer.get("norm_factor") is not None:
        notes.append("trained on normalized activations; the saved biases already undo the norm factor")

    threshold = None
    apply_b_dec = True
    activation, k, groups = "relu", None, None
    if cls in ("AutoEncoder", "AutoEncoderNew"):
        d_in, n = _linear_layout(state, path)
        W_enc = tensor(state, "encoder.weight", (n, d_in), path).T
        b_enc = tensor(state, "encoder.bias", (n,), path)
        W_dec = tensor(state, "decoder.weight", (d_in, n), path).T
        if cls == "AutoEncoder":
            require(state, ["bias"], path)
            b_dec = tensor(state, "bias", (d_in,), path)
            norms = W_dec.norm(dim=-1)
            if not torch.allclose(norms, torch.ones_like(norms)):
                # AutoEncoder.from_pretrained(normalize_decoder=True): unit decoder columns, same output
                W_dec, W_enc, b_enc = W_dec / norms[:, None], W_enc * norms, b_enc * norms
                notes.append("decoder columns normalized to unit norm, as AutoEncoder.from_pretrained does")
        else:
            require(state, ["decoder.bias"], path)
            b_dec = tensor(state, "decoder.bias", (d_in,), path)
            apply_b_dec = False
    elif cls in ("AutoEncoderTopK", "BatchTopKSAE"):
        d_in, n = _linear_layout(state, path)
        require(state, ["b_dec"], path)
        W_enc = tensor(state, "encoder.weight", (n, d_in), path).T
        b_enc = tensor(state, "encoder.bias", (n,), path)
        W_dec = tensor(state, "decoder.weight", (d_in, n), path).T
        b_dec = tensor(state, "b_dec", (d_in,), path)
        k = _k(state, trainer, path)
        activation = "topk" if cls == "AutoEncoderTopK" else "batchtopk"
        if activation == "batchtopk":
            require(state, ["threshold"], path)
            value = scalar(state["threshold"], "threshold", path)
            if value < 0:
                notes.append("threshold was never set in training (-1): inference is a plain ReLU")
            threshold = torch.full((n,), max(value, 0.0))
    else:  # MatryoshkaBatchTopKSAE, JumpReluAutoEncoder: nn.Parameter weights
        require(state, ["W_enc", "b_enc", "W_dec", "b_dec", "threshold"], path)
        if not isinstance(state["W_enc"], torch.Tensor) or state["W_enc"].ndim != 2:
            raise SaeError(f"{path}: W_enc should be an [activation_dim, dict_size] tensor.")
        d_in, n = (int(s) for s in state["W_enc"].shape)
        W_enc = tensor(state, "W_enc", (d_in, n), path)
        b_enc = tensor(state, "b_enc", (n,), path)
        W_dec = tensor(state, "W_dec", (n, d_in), path)
        b_dec = tensor(state, "b_dec", (d_in,), path)
        if cls == "JumpReluAutoEncoder":
            activation, apply_b_dec = "jumprelu", False
            # relu(pre * (pre > t)) == pre * (pre > max(t, 0))
            threshold = tensor(state, "threshold", (n,), path).clamp(min=0.0)
        else:
            activation = "batchtopk"
            k = _k(state, trainer, path)
            value = scalar(state["threshold"], "threshold", path)
            threshold = torch.full((n,), max(value, 0.0))
            sizes = state.get("group_sizes", trainer.get("group_sizes"))
            if sizes is None:
                raise SaeError(f"{path}: a MatryoshkaBatchTopKSAE needs group_sizes, and none is saved.")
            sizes = [int(s) for s in (sizes.tolist() if isinstance(sizes, torch.Tensor) else sizes)]
            if any(s <= 0 for s in sizes) or sum(sizes) != n:
                raise SaeError(f"{path}: group_sizes {sizes} must be positive and sum to dict_size={n}.")
            groups = [sum(sizes[: i + 1]) for i in range(len(sizes))]

    if trainer.get("dict_size") is not None and int(trainer["dict_size"]) != n:
        raise SaeError(f"{path}: the weights have {n} latents but config.json says dict_size={trainer['dict_size']}.")
    if trainer.get("activation_dim") is not None and int(trainer["activation_dim"]) != d_in:
        raise SaeError(
            f"{path}: the weights read {d_in}-wide inputs but config.json says "
            f"activation_dim={trainer['activation_dim']}."
        )
    arch = SaeArch(
        d_in=d_in,
        n_latents=n,
        activation=activation,
        k=k,
        groups=groups or [],
        input_scale=input_scale,
        apply_b_dec_to_input=apply_b_dec,
    )
    buffer = config.get("buffer") if isinstance(config.get("buffer"), dict) else {}
    layer, ctx = trainer.get("layer"), buffer.get("ctx_len")
    meta = SaeMeta(
        format="dictionary_learning",
        model=trainer.get("lm_name"),
        layer=int(layer) if layer is not None else None,
        hook=_hook(trainer),
        ctx=int(ctx) if ctx is not None else None,
        extra={"dict_class": cls, "notes": notes, "config": config},
    )
    return build_sae(
        arch, W_enc=W_enc, b_enc=b_enc, W_dec=W_dec, b_dec=b_dec, threshold=threshold, meta=meta, where=folder
    )
