"""Finding the store and the SAE's firings for a search, without loading torch when it can be avoided.

- Store: ``--store DIR``, else the ``TOKREX_STORE`` environment variable, else the demo's store
  (``$TOKREX_HOME/demo/store``, ``TOKREX_HOME`` defaulting to ``~/.cache/tokrex``) when it exists.
- SAE: a checkpoint folder (any format ``load_sae`` reads), an ``Sae`` object, or an SAE id whose
  firings are in the store. An SAE path's id is remembered in ``STORE/cache/sae-ids.json``, keyed
  by the path and checked against the sizes and modification times of the SAE folder's files, so
  a repeated search opens the firings by id without importing torch or hashing the weights.
  Firings missing from the store are encoded (with a progress bar) by the store stage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tokrex.errors import StoreError, UsageError

CACHE_FILE = Path("cache") / "sae-ids.json"
"""Where, inside a corpus store, the SAE-path-to-id cache lives."""


def tokrex_home() -> Path:
    """``$TOKREX_HOME`` or ``~/.cache/tokrex``: where the demo keeps its store and SAE."""
    return Path(os.environ.get("TOKREX_HOME") or "~/.cache/tokrex").expanduser()


def default_store() -> Path | None:
    """The store used when ``--store`` is not given: ``$TOKREX_STORE``, else the demo store if built."""
    env = os.environ.get("TOKREX_STORE")
    if env:
        return Path(env).expanduser()
    demo = tokrex_home() / "demo" / "store"
    return demo if (demo / "manifest.json").is_file() else None


def store_path(store: str | os.PathLike | None) -> Path:
    """``store`` or the default store; a UsageError saying how to pick one when there is none."""
    if store is not None:
        return Path(store).expanduser()
    found = default_store()
    if found is None:
        raise UsageError(
            "No store given: pass --store DIR (a store built with `tokrex corpus build`), set TOKREX_STORE, "
            "or run `tokrex demo` to build the default one."
        )
    return found


def _fingerprint(folder: Path) -> list:
    files = []
    for p in sorted(folder.iterdir()):
        if p.is_file():
            st = p.stat()
            files.append([p.name, st.st_size, st.st_mtime_ns])
    return files


def _cache_path(corpus) -> Path:
    return Path(corpus.path) / CACHE_FILE


def _read_cache(corpus) -> dict:
    try:
        data = json.loads(_cache_path(corpus).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def cached_sae_id(corpus, path: Path) -> str | None:
    """The remembered id of the SAE given as ``path`` if none of its files changed since."""
    try:
        entry = _read_cache(corpus).get(str(path.resolve()))
        if entry:
            folder = Path(entry["folder"])
            if folder.is_dir() and entry.get("files") == _fingerprint(folder):
                return str(entry["sae_id"])
    except (OSError, KeyError, TypeError):
        return None
    return None


def remember_sae_id(corpus, path: Path, folder: Path, sae_id: str) -> None:
    """Record ``path -> sae_id`` with ``folder``'s (the SAE's own folder) file fingerprint.

    Best effort: a read-only store just skips the cache.
    """
    from tokrex import atomic

    try:
        data = _read_cache(corpus)
        data[str(path.resolve())] = {"sae_id": sae_id, "folder": str(folder.resolve()), "files": _fingerprint(folder)}
        target = _cache_path(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(target, json.dumps(data, indent=1).encode())
    except OSError:
        pass


def _looks_like_id(text: str) -> bool:
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


def open_sae_firings(corpus, sae: Any, *, progress: bool = True):
    """``(firings, sae_object_or_None)`` for ``sae`` over ``corpus``, encoding them when missing.

    A path whose id is cached opens the firings without importing torch.
    """
    from tokrex.store.reader import open_firings

    if isinstance(sae, (str, os.PathLike)):
        path = Path(sae).expanduser()
        if not path.exists() and isinstance(sae, str) and _looks_like_id(sae):
            return open_firings(corpus, sae), None
        if path.exists():
            sid = cached_sae_id(corpus, path)
            if sid is not None:
                try:
                    return open_firings(corpus, sid), None
                except StoreError:
                    pass
        from tokrex.sae.load import load_sae

        model = load_sae(path)
        firings = ensure(corpus, model, progress=progress)
        source = getattr(getattr(model, "meta", None), "source", None)
        folder = Path(source) if source else (path if path.is_dir() else path.parent)
        if folder.is_dir():
            remember_sae_id(corpus, path, folder, firings.sae_id)
        return firings, model
    return ensure(corpus, sae, progress=progress), sae


def ensure(corpus, sae, *, progress: bool = True):
    """The firings of ``sae`` (a loaded ``Sae``), encoded first when the store has none."""
    try:
        from tokrex.store import ensure_firings
    except ImportError:  # the store stage without automatic encoding
        from tokrex.store.reader import open_firings

        return open_firings(corpus, sae)
    return ensure_firings(corpus, sae, progress=progress)
