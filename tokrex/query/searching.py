"""The search stage: a pattern's positives ranked against every latent of an SAE.

``search_firings(pattern, corpus, firings, config)`` is the pure entry point over an opened
corpus and firings source; ``search(pattern, sae=..., store=..., **config)`` is the public API
that opens (and if needed encodes) them and returns an Arrow table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from tokrex.query.arrow import to_numpy
from tokrex.query.atoms import check_latent_atoms, latent_masks
from tokrex.query.config import SearchConfig
from tokrex.query.contexts import Column, top_tokens
from tokrex.query.holes import CoverStep, Hole, cover, holes
from tokrex.query.metrics import positive_hits
from tokrex.query.ranking import rank, totals

TOP_TOKENS_SAMPLE = 200_000
"""A latent firing more often than this has its top tokens counted on an even sample of its firings."""
METADATA_KEY = b"tokrex.search"
"""Key of the table's schema metadata holding the search summary as JSON."""


@dataclass
class SearchResult:
    """Everything one search computed."""

    pattern: str
    """The pattern text."""
    n_positives: int
    """Positive tokens of the pattern."""
    n_matches: int
    """Distinct (document, end) matches of the pattern."""
    n_tokens: int
    """Corpus tokens."""
    sae: str
    """Content id of the SAE."""
    config: SearchConfig
    """The settings used."""
    latents: Any
    """Arrow table, one row per returned latent, best first (see docs/output.md)."""
    positives: np.ndarray = field(repr=False)
    """Sorted global token indices of the positives."""
    cover: list[dict] | None = None
    """Greedy cover steps when asked: step, latent, level, tp, fp, fn, precision, recall, f1."""

    def summary(self) -> dict:
        """The JSON header: pattern, counts, SAE, settings and the cover."""
        out = {
            "pattern": self.pattern,
            "n_positives": self.n_positives,
            "n_matches": self.n_matches,
            "n_tokens": self.n_tokens,
            "sae": self.sae,
            "by": self.config.by,
            "threshold": self.config.threshold,
        }
        if self.cover is not None:
            out["cover"] = self.cover
        return out

    def to_json(self) -> dict:
        """``{"pattern", "n_positives", "n_tokens", "sae", ..., "latents": [...]}``."""
        return {**self.summary(), "latents": self.latents.to_pylist()}

    def table(self):
        """The latents table with the summary in its schema metadata (key ``tokrex.search``)."""
        meta = dict(self.latents.schema.metadata or {})
        meta[METADATA_KEY] = json.dumps(self.summary()).encode()
        return self.latents.replace_schema_metadata(meta)


def search_info(table) -> dict:
    """The summary a ``tokrex.search`` table carries: pattern, n_positives, n_tokens, sae, ...."""
    meta = table.schema.metadata or {}
    if METADATA_KEY not in meta:
        return {}
    return json.loads(meta[METADATA_KEY])


def positives_of(pattern: str, corpus, firings):
    """Compile ``pattern`` with latent atoms and run it over the corpus; returns the match result."""
    from tokrex.pattern import compile as compile_pattern

    program = compile_pattern(pattern, corpus.vocab, latents=True)
    atoms = list(getattr(program, "latent_atoms", []) or [])
    masks = None
    if atoms:
        check_latent_atoms(pattern, atoms, firings.n_latents, program)
        index = firings.latent_index()
        masks = latent_masks(atoms, index.offsets, index.token, index.act, corpus.n_tokens)
    return program.run(corpus.ids, corpus.doc_offsets, latent_masks=masks)


def search_firings(pattern: str, corpus, firings, config: SearchConfig | None = None, *, con=None) -> SearchResult:
    """Run ``pattern`` over ``corpus`` and rank the latents of ``firings`` (see ``SearchConfig``)."""
    cfg = config or SearchConfig()
    match = positives_of(pattern, corpus, firings)
    positives = np.asarray(match.positives, dtype=np.int64)
    tot = totals(firings, cfg.threshold)
    table, scores = rank(positives, firings, cfg, con=con, tot=tot, with_scores=True)
    if len(positives) == 0:
        table = table.slice(0, 0)
    chosen = to_numpy(table.column("latent")).astype(np.int64)
    table = _add_top_tokens(table, corpus, firings, chosen, cfg)
    steps = None
    if cfg.holes or cfg.cover:
        column, counts_on = _readers(firings, cfg.threshold)
        eligible = tot.n_fires >= cfg.min_fires
        if cfg.holes:
            found = holes(chosen[: cfg.holes_for].tolist(), positives, firings.n_tokens, column, counts_on,
                          cfg.holes_top, eligible)
            table = _add_holes(table, found, tot.level, len(chosen))
        if cfg.cover:
            found_steps = cover(scores["tp"], tot.n_fires, positives, firings.n_tokens, column, counts_on, cfg.cover,
                                eligible) if len(positives) else []
            steps = [_step_dict(s, tot.level, len(positives)) for s in found_steps]
    return SearchResult(
        pattern=pattern,
        n_positives=len(positives),
        n_matches=int(getattr(match, "n_matches", 0)),
        n_tokens=int(corpus.n_tokens),
        sae=str(firings.sae_id),
        config=cfg,
        latents=table,
        positives=positives,
        cover=steps,
    )


def _readers(firings, threshold: float):
    """``column(latent)`` and ``counts_on(tokens)`` over the store's indexes (firing = above ``threshold``)."""
    col_index, tok_index = firings.latent_index(), firings.token_index()

    def column(latent: int) -> np.ndarray:
        s, e = int(col_index.offsets[latent]), int(col_index.offsets[latent + 1])
        tokens = col_index.token[s:e]
        return tokens[np.asarray(col_index.act[s:e]) > np.float64(threshold)] if threshold > 0 else tokens

    def counts_on(tokens: np.ndarray) -> np.ndarray:
        return positive_hits(tok_index.offsets, tok_index.latent, tok_index.act, tokens, firings.n_latents, threshold)[0]

    return column, counts_on


def _step_dict(step: CoverStep, level: np.ndarray, n_pos: int) -> dict:
    precision, recall, f1 = step.scores(n_pos)
    return {
        "step": step.step, "latent": step.latent, "level": int(level[step.latent]),
        "tp": step.tp, "fp": step.fp, "fn": step.fn, "precision": precision, "recall": recall, "f1": f1,
    }


def _add_top_tokens(table, corpus, firings, chosen: np.ndarray, cfg: SearchConfig):
    import pyarrow as pa

    from tokrex.query.arrow import list_of_structs

    fields = [("id", pa.int64()), ("text", pa.string()), ("count", pa.int64()), ("estimated", pa.bool_())]
    values = []
    if cfg.top_tokens:
        ids, vocab = corpus.ids, corpus.vocab
        for latent in chosen.tolist():
            col = Column.of(firings, latent).above(cfg.threshold)
            values.append([
                {"id": t["id"], "text": vocab.text([t["id"]]), "count": t["count"], "estimated": t.get("estimated", False)}
                for t in top_tokens(ids, col.tokens, cfg.top_tokens, sample=TOP_TOKENS_SAMPLE)
            ])
    else:
        values = [[] for _ in chosen]
    column = list_of_structs(values, fields)
    return table.append_column(pa.field("top_tokens", column.type), column)


def _add_holes(table, found: list[Hole], level: np.ndarray, n_rows: int):
    import pyarrow as pa

    from tokrex.query.arrow import list_of_structs

    fields = [("latent", pa.int64()), ("level", pa.int32()), ("count", pa.int64()), ("share", pa.float64())]
    values: list[Any] = [None] * n_rows
    for i, h in enumerate(found):
        values[i] = [
            {"latent": a, "level": int(level[a]), "count": c, "share": c / h.size if h.size else 0.0}
            for a, c in h.absorbers
        ]
    column = list_of_structs(values, fields)
    return table.append_column(pa.field("holes", column.type), column)


def config_from(overrides: dict[str, Any]) -> SearchConfig:
    """A SearchConfig from keyword arguments; unknown names raise a TypeError listing the valid ones."""
    names = {f.name for f in fields(SearchConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"unknown search option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
    return SearchConfig(**overrides)


def search(pattern: str, *, sae: Any, store: Any = None, progress: bool = False, **config: Any):
    """Rank the latents of ``sae`` against ``pattern``'s positives in ``store``; an Arrow table.

    ``sae``: an SAE folder (any supported format), a loaded ``Sae``, an SAE id with firings in the
    store, or a firings source (``tokrex.query.ArrayFirings``). ``store``: a store directory or an
    opened corpus (default: ``$TOKREX_STORE`` or the demo store). ``config``: any ``SearchConfig``
    field (``by``, ``top``, ``min_fires``, ``threshold``, ``auroc``, ``holes``, ``cover``...).
    One row per latent, best first; ``search_info(table)`` (or the schema metadata key
    ``tokrex.search``) gives pattern, n_positives, n_tokens and sae; ``table.to_pandas()`` works.
    Firings missing from the store are encoded first.
    """
    from tokrex.query.resolve import open_sae_firings, store_path

    cfg = config_from(config)
    if hasattr(store, "ids") and hasattr(store, "vocab"):
        corpus = store
    else:
        from tokrex.corpus import open_corpus

        corpus = open_corpus(store_path(store))
    if hasattr(sae, "latent_index") and hasattr(sae, "token_index"):
        firings = sae
    else:
        firings, _ = open_sae_firings(corpus, sae, progress=progress)
    return search_firings(pattern, corpus, firings, cfg).table()
