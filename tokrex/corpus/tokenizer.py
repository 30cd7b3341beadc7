"""Loading a tokenizer without downloading anything, and its stable identity hash.

A tokenizer is named by a Hugging Face tokenizer (or model) directory, a ``tokenizer.json``
file, or a name already in the local Hugging Face cache. ``tokenizer_hash`` identifies the
vocabulary and model (id <-> piece mapping, merges, added tokens), so a corpus store and a
model can be checked for compatibility whichever way each loaded its tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tokrex.errors import CorpusError


def _looks_like_path(spec: str) -> bool:
    """Hub names are ``name`` or ``org/name``; anything else that does not exist is a missing path."""
    return spec.startswith((".", "/", "~")) or spec.endswith(".json") or spec.count("/") > 1 or "\\" in spec


def load_tokenizer(source: str | os.PathLike) -> Any:
    """A Hugging Face fast tokenizer from a directory, a ``tokenizer.json`` file or a cached name.

    Nothing is downloaded (``local_files_only``); raises CorpusError with one sentence when
    the tokenizer cannot be found or loaded.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    spec = str(source)
    path = Path(spec).expanduser()
    try:
        if path.is_dir():
            tok = _from_dir(path)
        elif path.is_file():
            tok = _from_file(path)
        elif _looks_like_path(spec):
            raise CorpusError(f"Tokenizer path {spec} does not exist; pass a tokenizer directory, a tokenizer.json file or a cached model name.")
        else:
            tok = _from_cache(spec)
    except CorpusError:
        raise
    except Exception as exc:  # transformers raises many kinds; the user needs one sentence
        raise CorpusError(f"Could not load a tokenizer from {spec}: {_first_line(exc)}") from exc
    if not getattr(tok, "is_fast", False) or not hasattr(tok, "backend_tokenizer"):
        raise CorpusError(f"The tokenizer at {spec} is not a fast (tokenizer.json) tokenizer; tokrex needs one, e.g. save it with a recent transformers.")
    return tok


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].rstrip(".") + "."


def _from_dir(path: Path) -> Any:
    from transformers import AutoTokenizer

    has_files = any((path / n).exists() for n in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "tokenizer.model"))
    if not has_files:
        raise CorpusError(f"Directory {path} holds no tokenizer files (tokenizer.json, tokenizer_config.json, ...); pass a tokenizer directory.")
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def _from_file(path: Path) -> Any:
    from transformers import PreTrainedTokenizerFast

    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"Tokenizer file {path} is not a valid tokenizer.json ({_first_line(exc)[:-1]}).") from exc
    return PreTrainedTokenizerFast(tokenizer_file=str(path))


def _from_cache(name: str) -> Any:
    """The tokenizer of a repository already in the local HF cache, loaded from its snapshot
    directory (so a cached repository that holds only tokenizer files works too)."""
    from huggingface_hub import snapshot_download

    try:
        snapshot = Path(snapshot_download(name, local_files_only=True, cache_dir=_hub_cache()))
    except (OSError, ValueError) as exc:  # LocalEntryNotFoundError, HFValidationError
        raise CorpusError(
            f"Tokenizer '{name}' is not a directory, a tokenizer.json file or a name in the local Hugging Face cache; "
            f"nothing is downloaded, so fetch it first (huggingface-cli download {name}) or pass a path."
        ) from exc
    return _from_dir(snapshot)


def _hub_cache() -> str | None:
    """The HF hub cache named by the environment now (huggingface_hub reads it only at import)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return os.path.expanduser(os.environ[var])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return None


def backend_spec(tokenizer: Any) -> dict:
    """The parsed ``tokenizer.json`` of a HF fast tokenizer, a ``tokenizers.Tokenizer`` or a path."""
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = load_tokenizer(tokenizer)
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not hasattr(backend, "to_str"):
        raise TypeError("expected a Hugging Face fast tokenizer, a tokenizers.Tokenizer or a path")
    return json.loads(backend.to_str())


def _canonical_model(model: dict) -> dict:
    out = {k: v for k, v in model.items() if v is not None}
    merges = out.get("merges")
    if isinstance(merges, list):
        out["merges"] = [m.split(" ", 1) if isinstance(m, str) else list(m) for m in merges]
    return out


def tokenizer_hash(tokenizer: Any) -> str:
    """sha256 (hex) of the tokenizer's model section (vocabulary, merges, settings) and added tokens.

    Stable across the ways of loading the same tokenizer (directory, tokenizer.json, model
    directory, the store's copy): the JSON is canonicalized (sorted keys, merges as pairs,
    unset settings dropped) and added tokens count by (id, content) only.
    """
    spec = backend_spec(tokenizer)
    added = sorted((int(t["id"]), str(t["content"])) for t in spec.get("added_tokens") or [])
    canon = {"model": _canonical_model(spec.get("model") or {}), "added_tokens": added}
    blob = json.dumps(canon, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def tokenizer_name(source: str | os.PathLike) -> str:
    """How the manifest names a tokenizer: an absolute path for files and directories, else the name."""
    path = Path(str(source)).expanduser()
    return str(path.resolve()) if path.exists() else str(source)
