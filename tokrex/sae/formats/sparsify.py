"""EleutherAI sparsify folders: ``cfg.json`` + ``sae.safetensors``, one folder per hookpoint.

sparsify encodes ``topk(relu((x - b_dec) @ encoder.weight.T + encoder.bias), k)`` and decodes
``z @ W_dec + b_dec``, with ``encoder.weight`` [n_latents, d_in] and ``W_dec`` [n_latents, d_in].
A training run saves ``RUN/<hookpoint>/{cfg.json, sae.safetensors}`` beside ``RUN/config.json``
(which names the model); the hookpoint folder's name (``layers.3``, ``layers.3.mlp``) gives the layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokrex.errors import SaeError
from tokrex.sae.formats.common import (
    build_sae,
    parse_hook,
    positive_int,
    read_json,
    read_safetensors,
    require,
    tensor,
)
from tokrex.sae.meta import SaeMeta
from tokrex.sae.model import Sae, SaeArch

CFG = "cfg.json"
WEIGHTS = "sae.safetensors"
RUN_CONFIG = "config.json"


def detect(folder: Path) -> bool:
    """True when ``folder`` holds a sparsify-layout SAE (a tokrex checkpoint is ruled out first)."""
    return (folder / WEIGHTS).is_file() and (folder / CFG).is_file()


def _run_config(folder: Path) -> dict[str, Any]:
    """The training run's config.json in the parent folder, if there is a readable one."""
    path = folder.parent / RUN_CONFIG
    if not path.is_file():
        return {}
    try:
        return read_json(path)
    except SaeError:
        return {}


def load(folder: Path) -> Sae:
    """A sparsify SAE folder as a tokrex ``Sae`` (float32, CPU) computing the same encodings."""
    cfg_path, weights_path = folder / CFG, folder / WEIGHTS
    cfg = read_json(cfg_path)
    if cfg.get("activation", "topk") != "topk":
        raise SaeError(
            f"{cfg_path}: activation {cfg['activation']!r} cannot be expressed by tokrex's SAE (only topk is)."
        )
    if cfg.get("transcode"):
        raise SaeError(f"{cfg_path}: this is a transcoder (it predicts another module's output), not an SAE.")
    if cfg.get("signed"):
        raise SaeError(f"{cfg_path}: signed activations cannot be expressed by tokrex's SAE.")
    state = read_safetensors(weights_path)
    if cfg.get("skip_connection") or "W_skip" in state:
        raise SaeError(f"{weights_path}: a skip connection (W_skip) cannot be expressed by tokrex's SAE.")
    require(state, ["encoder.weight", "encoder.bias", "W_dec", "b_dec"], weights_path)

    enc = state["encoder.weight"]
    if enc.ndim != 2:
        raise SaeError(f"{weights_path}: encoder.weight should be [n_latents, d_in], found {list(enc.shape)}.")
    n, d_in = int(enc.shape[0]), int(cfg.get("d_in") or enc.shape[1])
    expected = int(cfg.get("num_latents") or 0) or d_in * int(cfg.get("expansion_factor") or 0) or n
    if expected != n:
        raise SaeError(
            f"{weights_path}: encoder.weight has {n} latents but cfg.json implies {expected}; "
            "the weights and the config disagree."
        )
    W_enc = tensor(state, "encoder.weight", (n, d_in), weights_path).T
    b_enc = tensor(state, "encoder.bias", (n,), weights_path)
    if tuple(state["W_dec"].shape) == (d_in, n) and d_in != n:
        W_dec = tensor(state, "W_dec", (d_in, n), weights_path).T  # a transposed export
    else:
        W_dec = tensor(state, "W_dec", (n, d_in), weights_path)
    b_dec = tensor(state, "b_dec", (d_in,), weights_path)
    k = positive_int(cfg.get("k", 32), "k", cfg_path)

    arch = SaeArch(d_in=d_in, n_latents=n, activation="topk", k=min(k, n), apply_b_dec_to_input=True)
    layer, hook = parse_hook(folder.name)
    if folder.name in ("embed_tokens", "embed", "wte"):
        layer, hook = -1, "resid_post"
    elif layer is None:  # a folder renamed by hand: the hookpoint is unknown
        hook = "resid_post"
    run = _run_config(folder)
    ctx = run.get("ctx_len")
    meta = SaeMeta(
        format="sparsify",
        model=run.get("model"),
        layer=layer,
        hook=hook,
        ctx=int(ctx) if isinstance(ctx, int) else None,
        extra={"hookpoint": folder.name, "config": cfg},
    )
    return build_sae(arch, W_enc=W_enc, b_enc=b_enc, W_dec=W_dec, b_dec=b_dec, threshold=None, meta=meta, where=folder)
