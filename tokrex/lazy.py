"""Lazy attributes for package ``__init__`` modules: heavy parts load on first use, not at import."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_getattr(package: str, namespace: dict[str, Any], table: dict[str, tuple[str, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``name -> (module, attribute)`` from ``table`` once, then caching it."""

    def __getattr__(name: str) -> Any:
        if name in table:
            module, attr = table[name]
            value = getattr(importlib.import_module(module), attr)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
