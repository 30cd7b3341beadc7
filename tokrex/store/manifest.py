"""The firings manifest: who encoded what from which corpus, how far the run got.

Every check that keeps firings from being silently joined with the wrong corpus or
SAE lives here and raises one sentence.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

from tokrex import atomic
from tokrex.errors import StoreError
from tokrex.store.schema import FIRINGS_SCHEMA, FORMAT, VERSION, Layout

# Keys the corpus manifest may use for its content hash (first present wins).
_CONTENT_KEYS = ("content_hash", "corpus_hash", "hash", "tokens_hash")
# Settings that must agree between a partial run and its resumption.
SETTINGS = ("model", "layer", "hook", "ctx", "dtype", "block_tokens", "part_rows")


def corpus_identity(corpus: Any) -> dict:
    """What a firings manifest records about the corpus it was encoded from."""
    m = dict(getattr(corpus, "manifest", {}) or {})
    content = next((m[k] for k in _CONTENT_KEYS if m.get(k)), None)
    return {
        "path": str(Path(corpus.path).resolve()),
        "tokenizer_hash": corpus.tokenizer_hash,
        "n_tokens": int(corpus.n_tokens),
        "n_docs": int(corpus.n_docs),
        "content_hash": content,
    }


def sae_identity(sae: Any, sae_id: str) -> dict:
    """What a firings manifest records about the SAE (from ``sae.arch`` and ``sae.meta``)."""
    arch, meta = sae.arch, getattr(sae, "meta", None)
    return {
        "sae_id": sae_id,
        "source": getattr(meta, "source", None),
        "format": getattr(meta, "format", None),
        "model": getattr(meta, "model", None),
        "layer": getattr(meta, "layer", None),
        "hook": getattr(meta, "hook", None),
        "ctx": getattr(meta, "ctx", None),
        "tokenizer_hash": getattr(meta, "tokenizer_hash", None),
        "activation": arch.activation,
        "d_in": int(arch.d_in),
        "n_latents": int(arch.n_latents),
        "k": arch.k,
        "groups": [int(g) for g in arch.groups],
        "dtype": str(sae.W_enc.dtype).removeprefix("torch."),
    }


def new_manifest(sae: dict, corpus: dict, settings: dict) -> dict:
    """A fresh manifest for a run that has written nothing yet."""
    now = _now()
    return {
        "format": FORMAT,
        "version": VERSION,
        "status": "partial",
        "run_id": uuid.uuid4().hex,
        "sae": sae,
        "corpus": corpus,
        **{k: settings.get(k) for k in SETTINGS},
        "device": settings.get("device"),
        "schema": {f.name: str(f.type) for f in FIRINGS_SCHEMA},
        "parts": [],
        "next_token": 0,
        "stats": None,
        "counts": {"n_tokens": corpus["n_tokens"], "n_firings": 0, "bytes": 0, "bytes_per_firing": None},
        "created": now,
        "updated": now,
    }


def read_manifest(layout: Layout) -> dict | None:
    """The manifest of one SAE's firings, or None when there is none; refuses another format/version."""
    path = layout.manifest_path
    if not path.exists():
        return None
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"The firings manifest {path} is unreadable ({exc}); re-encode with `tokrex encode --overwrite`.")
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise StoreError(f"{path} is not a tokrex firings manifest; re-encode with `tokrex encode --overwrite`.")
    if m.get("version") != VERSION:
        raise StoreError(
            f"The firings in {layout.firings_dir} use format version {m.get('version')}, this tokrex reads "
            f"version {VERSION}; re-encode with `tokrex encode --overwrite`."
        )
    return m


def write_manifest(layout: Layout, manifest: dict) -> None:
    manifest["updated"] = _now()
    atomic.write_json(layout.manifest_path, manifest)


def check_identity(manifest: dict, layout: Layout, corpus: dict) -> None:
    """Refuse firings whose manifest names another SAE or another corpus than the one in hand."""
    named = (manifest.get("sae") or {}).get("sae_id")
    if named != layout.sae_id:
        raise StoreError(
            f"The firings manifest {layout.manifest_path} names SAE {named}, not {layout.sae_id}; "
            f"the store is inconsistent: re-encode with `tokrex encode --overwrite`."
        )
    have = manifest.get("corpus") or {}
    for key in ("tokenizer_hash", "n_tokens", "content_hash"):
        if have.get(key) is not None and corpus.get(key) is not None and have[key] != corpus[key]:
            raise StoreError(
                f"The firings of SAE {layout.sae_id} were encoded from another corpus ({key} {have[key]} "
                f"vs {corpus[key]} in {corpus['path']}); re-encode with `tokrex encode --overwrite`."
            )


# What an SAE records about the activations it reads; compared with the record made at encoding.
_SAE_RECORD = ("model", "layer", "hook", "ctx")


def check_sae_record(manifest: dict, layout: Layout, sae: Any) -> None:
    """Refuse firings encoded while the SAE recorded another model, layer, hook or ctx than it does now.

    The SAE id hashes the weights only, so an SAE folder whose config was edited after encoding
    (another ``hook_name``, say) keeps its id; its old firings would read another layer.
    """
    meta = getattr(sae, "meta", None)
    then = manifest.get("sae") or {}
    for key in _SAE_RECORD:
        now, had = getattr(meta, key, None), then.get(key)
        if now is not None and had is not None and now != had:
            raise StoreError(
                f"The firings of SAE {layout.sae_id} in {layout.root} were encoded when the SAE recorded {key} "
                f"{had!r}, but it now records {now!r}; encode them again with "
                f"`tokrex encode --sae CKPT --store {layout.root} --overwrite`."
            )


def check_parts(manifest: dict, layout: Layout) -> None:
    """Refuse when a part the manifest lists is missing or no longer has the size it was written with."""
    for part in manifest["parts"]:
        path = layout.firings_dir / part["name"]
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise StoreError(f"Firings part {path} is missing; re-encode with `tokrex encode --overwrite`.") from None
        if size != part["bytes"]:
            raise StoreError(
                f"Firings part {path} changed after it was written ({size} bytes, {part['bytes']} expected); "
                f"re-encode with `tokrex encode --overwrite`."
            )


def identity_hash(manifest: dict) -> str:
    """A hash of the Parquet parts' identity; derived indexes record it and are rebuilt when it changes."""
    key = {
        "version": VERSION,
        "run_id": manifest["run_id"],
        "parts": [[p["name"], p["rows"], p["bytes"], p["digest"]] for p in manifest["parts"]],
        "n_tokens": manifest["corpus"]["n_tokens"],
        "n_latents": manifest["sae"]["n_latents"],
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
