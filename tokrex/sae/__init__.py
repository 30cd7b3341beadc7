"""Sparse autoencoders: the model, training objectives, checkpoints and foreign formats."""

from tokrex.lazy import lazy_getattr
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


__getattr__ = lazy_getattr("tokrex.sae", globals(), _LAZY)
