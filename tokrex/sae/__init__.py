"""Sparse autoencoders: the model, training objectives, checkpoints and foreign formats."""

from tokrex.sae.model import Sae, SaeArch

__all__ = ["Sae", "SaeArch"]
