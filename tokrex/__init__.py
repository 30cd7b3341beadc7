"""tokrex: token-regex search over sparse-autoencoder activations.

``import tokrex`` touches no network, GPU or file: the public API below is
loaded lazily on first use.
"""

from __future__ import annotations

from tokrex.lazy import lazy_getattr

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


__getattr__ = lazy_getattr("tokrex", globals(), _API)
