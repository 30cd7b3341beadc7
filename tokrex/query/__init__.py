"""The query stage: rank SAE latents against a pattern's positives; latent dashboards.

``search(pattern, sae=..., store=..., **config)`` is the public entry point (an Arrow table, one
row per latent); ``search_firings`` is the same over an opened corpus and firings source;
``rank`` ranks given positives; ``latent_view`` gathers what ``tokrex latent`` shows.
Names load on first use, so importing this package (or ``tokrex.query.config``) costs nothing.
"""

from __future__ import annotations

from typing import Any

_API = {
    "ArrayFirings": "tokrex.query.source",
    "LatentConfig": "tokrex.query.latent",
    "SearchConfig": "tokrex.query.config",
    "SearchResult": "tokrex.query.searching",
    "latent_view": "tokrex.query.latent",
    "rank": "tokrex.query.ranking",
    "search": "tokrex.query.searching",
    "search_firings": "tokrex.query.searching",
    "search_info": "tokrex.query.searching",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tokrex.query' has no attribute {name!r}")
