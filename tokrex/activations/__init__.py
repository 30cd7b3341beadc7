"""Activations of any transformers model over a corpus store, window by window, cached on disk."""

from tokrex.activations.cache import ActivationCache, build_cache, corpus_identity, iter_activations, open_cache
from tokrex.activations.config import ActivationConfig
from tokrex.activations.model import LoadedModel, load_model
from tokrex.activations.windows import Windows, make_windows

__all__ = [
    "ActivationCache", "ActivationConfig", "LoadedModel", "Windows", "build_cache", "corpus_identity",
    "iter_activations", "load_model", "make_windows", "open_cache",
]
