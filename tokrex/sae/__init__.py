"""Sparse autoencoders: the model, training objectives, checkpoints and foreign formats."""

from typing import Any

from tokrex.sae.model import Sae, SaeArch

# Loaders and converters, resolved on first use (tokrex.sae.load imports every format module).
_LAZY = {
    "load_sae": ("tokrex.sae.load", "load_sae"),
    "sae_id": ("tokrex.sae.load", "sae_id"),
    "sae_info": ("tokrex.sae.load", "sae_info"),
    "detect_format": ("tokrex.sae.load", "detect_format"),
    "export_sae": ("tokrex.sae.load", "export_sae"),
    "TrainConfig": ("tokrex.sae.config", "TrainConfig"),
    "train": ("tokrex.sae.train", "train"),
    "save_checkpoint": ("tokrex.sae.checkpoint", "save_checkpoint"),
    "load_checkpoint": ("tokrex.sae.checkpoint", "load_checkpoint"),
}

__all__ = ["Sae", "SaeArch", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tokrex.sae' has no attribute {name!r}")
