"""SAELens folders: ``cfg.json`` + ``sae_weights.safetensors``; reading them and writing them.

SAELens encodes ``act((x - b_dec * apply_b_dec_to_input) @ W_enc + b_enc)`` and decodes
``z @ W_dec + b_dec``, with W_enc [d_in, d_sae] and W_dec [d_sae, d_in]. Its architectures:

- ``standard``: ReLU;
- ``topk``: the k largest pre-activations, then ReLU; with ``rescale_acts_by_decoder_norm`` the
  pre-activations are multiplied by the decoder row norms first (and divided again before decoding);
- ``jumprelu``: ``relu(pre) * (pre > threshold)`` with a per-latent ``threshold``
  (training checkpoints store ``log_threshold``);
- training checkpoints of ``batchtopk`` / ``matryoshka_batchtopk``, which SAELens turns into JumpReLU
  with one threshold (``topk_threshold``) for every latent.

Configs come in two layouts: v6 (``architecture`` plus ``metadata.model_name``/``metadata.hook_name``)
and older flat ones (``model_name``, ``hook_name`` or ``hook_point``, ``hook_layer``,
``activation_fn_str``/``activation_fn``, ``activation_fn_kwargs.k``, ``normalize_activations`` as a bool).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from tokrex.errors import SaeError
from tokrex.sae.formats.common import (
    build_sae,
    parse_hook,
    positive_int,
    read_json,
    read_safetensors,
    require,
    scalar,
    tensor,
)
from tokrex.sae.meta import SaeMeta
from tokrex.sae.model import Sae, SaeArch

CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
SCALER = "activation_scaler.json"
SUPPORTED = ("standard", "topk", "jumprelu", "batchtopk", "matryoshka_batchtopk")
# What tokrex writes as the SAELens version: the v6 config layout it follows.
EXPORT_SAELENS_VERSION = "6.0.0"


def detect(folder: Path) -> bool:
    """True when ``folder`` looks like a SAELens SAE."""
    return (folder / WEIGHTS).is_file() and (folder / CFG).is_file()


def _get(cfg: dict[str, Any], key: str, default: Any = None) -> Any:
    """A config value from the top level, else from ``metadata`` (v6 keeps model/hook there)."""
    if cfg.get(key) is not None:
        return cfg[key]
    meta = cfg.get("metadata")
    if isinstance(meta, dict) and meta.get(key) is not None:
        return meta[key]
    return default


def _architecture(cfg: dict[str, Any], where: Path) -> tuple[str, int | None]:
    """(SAELens architecture, k) under the same defaulting rules SAELens applies to old configs."""
    arch = cfg.get("architecture")
    act_fn = cfg.get("activation_fn") or cfg.get("activation_fn_str") or "relu"
    kwargs = cfg.get("activation_fn_kwargs") or {}
    k = cfg.get("k", kwargs.get("k"))
    if act_fn == "topk" and kwargs.get("k") is not None and arch in (None, "standard"):
        arch = "topk"
    arch = arch or "standard"
    if arch not in SUPPORTED:
        raise SaeError(
            f"{where}: SAELens architecture {arch!r} cannot be expressed by tokrex's SAE "
            f"(supported: {', '.join(SUPPORTED)})."
        )
    if arch == "standard" and act_fn not in ("relu", "topk"):
        raise SaeError(f"{where}: activation function {act_fn!r} is not supported (supported: relu, topk).")
    if arch == "standard" and act_fn == "topk":
        raise SaeError(f"{where}: a topk activation needs k in activation_fn_kwargs, and none is given.")
    if arch != "standard" and arch != "jumprelu":
        if k is None:
            raise SaeError(f"{where}: architecture {arch!r} needs k, and the config has none.")
        number = scalar(k, "k", where)
        k = max(1, round(number)) if arch != "topk" else positive_int(k, "k", where)
    else:
        k = None
    return arch, k


def _input_scale(cfg: dict[str, Any], folder: Path) -> tuple[float, list[str]]:
    """The input scale SAELens applies, from ``normalize_activations`` (and activation_scaler.json)."""
    notes: list[str] = []
    norm = cfg.get("normalize_activations")
    if norm in (None, False, "none"):
        return 1.0, notes
    if norm in (True, "expected_average_only_in"):
        scaler = folder / SCALER
        if scaler.is_file():
            factor = read_json(scaler).get("scaling_factor")
            if factor is not None:
                value = scalar(factor, "scaling_factor", scaler)
                notes.append(f"inputs are scaled by {value} (activation_scaler.json), as SAELens does in training")
                return value, notes
        notes.append(
            "normalize_activations=expected_average_only_in with no scaling factor in the folder: "
            "inputs are used as they are, as SAELens does when loading from disk"
        )
        return 1.0, notes
    raise SaeError(
        f"{folder / CFG}: normalize_activations={norm!r} rescales every input by its own norm, "
        "which tokrex's SAE cannot express; fold the normalization into the weights or use another SAE."
    )


def _groups(cfg: dict[str, Any], d_sae: int, where: Path) -> list[int]:
    widths = _get(cfg, "matryoshka_widths")
    if not widths:
        return [d_sae]
    widths = [int(w) for w in widths]
    if widths[-1] != d_sae:
        widths.append(d_sae)
    if any(b <= a for a, b in zip(widths, widths[1:])) or widths[0] <= 0:
        raise SaeError(f"{where}: matryoshka_widths must be strictly increasing and end at d_sae={d_sae}: {widths}.")
    return widths


def load(folder: Path) -> Sae:
    """A SAELens SAE folder as a tokrex ``Sae`` (float32, CPU) computing the same encodings."""
    cfg_path, weights_path = folder / CFG, folder / WEIGHTS
    cfg = read_json(cfg_path)
    state = read_safetensors(weights_path)
    arch_name, k = _architecture(cfg, cfg_path)
    input_scale, notes = _input_scale(cfg, folder)
    require(state, ["W_enc", "b_enc", "W_dec", "b_dec"], weights_path)

    d_in = int(cfg.get("d_in") or state["W_enc"].shape[0])
    d_sae = int(cfg.get("d_sae") or state["W_enc"].shape[-1])
    W_enc = tensor(state, "W_enc", (d_in, d_sae), weights_path)
    b_enc = tensor(state, "b_enc", (d_sae,), weights_path)
    W_dec = tensor(state, "W_dec", (d_sae, d_in), weights_path)
    b_dec = tensor(state, "b_dec", (d_in,), weights_path)

    for key in ("scaling_factor", "finetuning_scaling_factor"):
        if key in state:  # scales feature activations before decoding: fold into the decoder rows
            W_dec = W_dec * tensor(state, key, (d_sae,), weights_path)[:, None]
            notes.append(f"{key} folded into W_dec")

    threshold = None
    activation = {"standard": "relu", "topk": "topk", "jumprelu": "jumprelu"}.get(arch_name, "batchtopk")
    if arch_name == "jumprelu":
        if "threshold" in state:
            threshold = tensor(state, "threshold", (d_sae,), weights_path)
        elif "log_threshold" in state:
            threshold = tensor(state, "log_threshold", (d_sae,), weights_path).exp()
        else:
            require(state, ["threshold"], weights_path)
    elif activation == "batchtopk":
        require(state, ["topk_threshold"], weights_path)
        threshold = torch.full((d_sae,), scalar(state["topk_threshold"], "topk_threshold", weights_path))
    if threshold is not None:
        # relu(pre) * (pre > t) == pre * (pre > max(t, 0)): tokrex's jumprelu has no separate ReLU.
        threshold = threshold.clamp(min=0.0)

    rescale = bool(cfg.get("rescale_acts_by_decoder_norm", False)) and arch_name != "standard"
    if rescale:  # pre * ||W_dec_i|| then decode z / ||W_dec_i||: the same SAE with unit decoder rows
        norms = W_dec.norm(dim=-1)
        W_enc, b_enc, W_dec = W_enc * norms, b_enc * norms, W_dec / norms[:, None]
        notes.append("decoder norms folded into the encoder (rescale_acts_by_decoder_norm)")

    arch = SaeArch(
        d_in=d_in,
        n_latents=d_sae,
        activation=activation,
        k=k,
        groups=_groups(cfg, d_sae, cfg_path),
        input_scale=input_scale,
        apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
    )
    hook_name = _get(cfg, "hook_name") or _get(cfg, "hook_point")
    layer, hook = parse_hook(hook_name)
    if layer is None:
        fallback = _get(cfg, "hook_layer", _get(cfg, "hook_point_layer"))
        layer = int(fallback) if fallback is not None else None
    ctx = _get(cfg, "context_size")
    meta = SaeMeta(
        format="saelens",
        model=_get(cfg, "model_name"),
        layer=layer,
        hook=hook,
        ctx=int(ctx) if ctx is not None else None,
        tokenizer_hash=_get(cfg, "tokrex_tokenizer_hash"),
        extra={"architecture": arch_name, "hook_name": hook_name, "notes": notes, "config": cfg},
    )
    return build_sae(
        arch, W_enc=W_enc, b_enc=b_enc, W_dec=W_dec, b_dec=b_dec, threshold=threshold, meta=meta, where=folder
    )


def hook_name(layer: int | None, hook: str) -> str | None:
    """The TransformerLens hook name for a tokrex (layer, hook); inverse of ``parse_hook``."""
    if layer is None:
        return None
    if layer == -1 and hook == "resid_post":
        return "blocks.0.hook_resid_pre"
    names = {"resid_post": "hook_resid_post", "mlp_out": "hook_mlp_out", "attn_out": "hook_attn_out"}
    tail = names.get(hook) or (hook if "." in hook else f"hook_{hook}")
    return f"blocks.{layer}.{tail}"


def export(sae: Sae, out: Path, *, sae_id: str | None = None) -> None:
    """Write ``sae`` into the (empty or new) folder ``out`` as a SAELens v6 inference SAE.

    The input scale is folded into the weights (W_enc * s, W_dec / s, b_dec / s), as SAELens's
    ``fold_activation_norm_scaling_factor`` does; BatchTopK at inference becomes JumpReLU with its
    threshold for every latent; Matryoshka groups are kept in ``metadata.matryoshka_widths``.
    """
    from safetensors.torch import save_file

    arch = sae.arch
    s = float(arch.input_scale)
    threshold = sae.threshold.detach().to("cpu", torch.float32)
    if arch.activation == "relu":
        name = "standard"
    elif arch.activation == "topk":
        name = "topk"
    elif arch.activation == "jumprelu":
        if (threshold < 0).any():
            raise SaeError(
                "This SAE has negative JumpReLU thresholds, which SAELens's JumpReLU (ReLU, then the "
                "threshold) cannot express; it cannot be exported to SAELens."
            )
        name = "jumprelu"
    else:  # batchtopk at inference: pre * (pre > t) * (pre > 0) == relu(pre) * (pre > max(t, 0))
        name = "jumprelu"
        threshold = threshold.clamp(min=0.0)
    if not math.isfinite(s) or s <= 0:
        raise SaeError(f"The SAE's input scale {s} is not a positive number; it cannot be exported.")

    def cpu(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to("cpu", torch.float32).contiguous()

    weights = {
        "W_enc": cpu(sae.W_enc) * s,
        "b_enc": cpu(sae.b_enc),
        "W_dec": cpu(sae.W_dec) / s,
        "b_dec": cpu(sae.b_dec) / s,
    }
    if name == "jumprelu":
        weights["threshold"] = threshold.contiguous()

    meta = getattr(sae, "meta", None) or SaeMeta()
    metadata: dict[str, Any] = {
        "sae_lens_version": EXPORT_SAELENS_VERSION,
        "sae_lens_training_version": None,
        "model_name": meta.model,
        "hook_name": hook_name(meta.layer, meta.hook),
        "hook_head_index": None,
        "context_size": meta.ctx,
        "exported_by": "tokrex",
        "tokrex_source_format": meta.format,
        "tokrex_activation": arch.activation,
    }
    if arch.k is not None and arch.activation in ("topk", "batchtopk"):
        metadata["tokrex_k"] = int(arch.k)
    if sae_id is not None:
        metadata["tokrex_sae_id"] = sae_id
    if meta.tokenizer_hash:
        metadata["tokrex_tokenizer_hash"] = meta.tokenizer_hash
    if len(arch.groups) > 1:
        metadata["matryoshka_widths"] = list(arch.groups)
    if s != 1.0:
        metadata["tokrex_folded_input_scale"] = s
    cfg: dict[str, Any] = {
        "d_in": arch.d_in,
        "d_sae": arch.n_latents,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": bool(arch.apply_b_dec_to_input),
        "normalize_activations": "none",
        "reshape_activations": "hook_z" if (metadata["hook_name"] or "").endswith("_z") else "none",
        "metadata": metadata,
        "architecture": name,
    }
    if name == "topk":
        cfg["k"] = int(arch.k)
        cfg["rescale_acts_by_decoder_norm"] = False

    import json

    save_file(weights, str(out / WEIGHTS))
    (out / CFG).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
