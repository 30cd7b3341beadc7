"""tokrex: token-regex search over sparse-autoencoder activations.

``import tokrex`` touches no network, GPU or file: the public API below is
loaded lazily on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# name -> (module, attribute); resolved on first access.
_API = {
    "compile": ("tokrex.pattern", "compile"),
    "open_corpus": ("tokrex.corpus", "open_corpus"),
    "build_corpus": ("tokrex.corpus", "build_corpus"),
    "load_sae": ("tokrex.sae", "load_sae"),
    "search": ("tokrex.query", "search"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tokrex' has no attribute {name!r}")
