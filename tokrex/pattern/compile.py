"""AST + vocabulary -> a compiled pattern that runs over token ids.

Every single-token predicate becomes a boolean mask over the vocabulary, computed once (each
regex runs once per vocabulary entry).  Predicates that depend on context (flags ``w``/``c``,
latent atoms) are combined per position at run time.  ``run`` picks the fastest exact
strategy: a bare single-token predicate is a gather and a nonzero; patterns without
back-references run in the vectorized engine (match.py); back-references take backref.py.
"""

from __future__ import annotations

import numpy as np

from tokrex.corpus import Vocab
from tokrex.errors import NeedsSaeError, PatternError
from tokrex.pattern import ast as A
from tokrex.pattern.layout import Layout, layout_for, vocab_tables
from tokrex.pattern.match import BOOL, Engine, has_mark
from tokrex.pattern.parse import parse_script
from tokrex.pattern.result import MatchResult

LatentKey = tuple[int, "float | None"]


def compile(text: str, vocab: Vocab, *, latents: bool = False) -> "CompiledPattern":
    """Parse the script ``text`` and compile its query against ``vocab`` (a ``Vocab``, a
    ``Corpus`` or a Hugging Face tokenizer)."""
    return CompiledPattern(text, vocab, latents=latents)


def _as_vocab(vocab) -> Vocab:
    """A ``Vocab`` from a Vocab, a Corpus (its vocabulary) or a Hugging Face tokenizer."""
    if isinstance(vocab, Vocab):
        return vocab
    if isinstance(getattr(vocab, "vocab", None), Vocab):
        return vocab.vocab
    if hasattr(vocab, "backend_tokenizer") or (hasattr(vocab, "to_str") and hasattr(vocab, "get_vocab")):
        return Vocab.from_tokenizer(vocab)
    return vocab  # anything shaped like a Vocab


def _vocab_regex(vocab: Vocab, node: A.Regex) -> np.ndarray:
    import regex

    rx = regex.compile(node.source, regex.IGNORECASE if "i" in node.flags else 0)
    texts = vocab.surface if "s" in node.flags else vocab.core
    fullmatch = rx.fullmatch
    out = np.zeros(vocab.size + 1, dtype=bool)
    out[:-1] = np.fromiter((fullmatch(t) is not None for t in texts), dtype=bool, count=vocab.size)
    return out


class CompiledPattern:
    """A query compiled for one vocabulary; ``run`` applies it to token ids."""

    def __init__(self, text: str, vocab: Vocab, *, latents: bool = False):
        vocab = _as_vocab(vocab)
        self.text = text
        self.script = parse_script(text)
        self.vocab = vocab
        self.tables = vocab_tables(vocab)
        found: dict[LatentKey, A.Latent] = {}
        for node in A.walk(self.script.query):
            if isinstance(node, A.Latent):
                found.setdefault((node.latent, node.threshold), node)
            if isinstance(node, A.TokenId) and node.id >= vocab.size:
                raise PatternError(f"token id {node.id} is outside the vocabulary (ids 0..{vocab.size - 1})",
                                   text, node.span[0])
        if found and not latents:
            key, node = next(iter(found.items()))
            atom = text[node.span[0] : node.span[1]]
            raise NeedsSaeError(f"latent atom {atom} needs an SAE: pass --sae", text, node.span[0])
        self.latent_atoms: list[LatentKey] = list(found)
        self._preds: dict[int, tuple] = {}
        self._regex_masks: dict[tuple[str, str], np.ndarray] = {}
        self.query = simplify(self.script.query)
        self.has_marks = has_mark(self.query)
        body = self.query.body if isinstance(self.query, A.Mark) else self.query
        self.strategy = (
            "token" if isinstance(body, A.TOKEN_NODES)
            else "backref" if any(isinstance(n, A.Backref) for n in A.walk(self.query))
            else "engine"
        )
        for node in A.walk(self.query):
            if isinstance(node, A.TOKEN_NODES):
                self._predicate(node)

    # ---- single-token predicates ------------------------------------------------------
    def _predicate(self, node: A.TokenNode) -> tuple:
        """('v', vocab mask) when context-free, else a small tree evaluated per position."""
        key = id(node)
        if key in self._preds:
            return self._preds[key]
        V = self.vocab.size
        if isinstance(node, A.Regex):
            flags = "".join(f for f in node.flags if f in "is")
            mask = self._regex_masks.get((node.source, flags))
            if mask is None:
                mask = self._regex_masks[(node.source, flags)] = _vocab_regex(self.vocab, node)
            pred: tuple = ("v", mask)
            if "w" in node.flags:
                pred = ("w", mask)
            elif "c" in node.flags:
                pred = ("c", mask)
        elif isinstance(node, A.Any):
            mask = np.ones(V + 1, dtype=bool)
            mask[V] = False
            pred = ("v", mask)
        elif isinstance(node, A.TokenId):
            mask = np.zeros(V + 1, dtype=bool)
            mask[node.id] = True
            pred = ("v", mask)
        elif isinstance(node, A.Latent):
            pred = ("L", (node.latent, node.threshold))
        elif isinstance(node, A.Not):
            inner = self._predicate(node.item)
            if inner[0] == "v":
                mask = ~inner[1]
                mask[V] = False
                pred = ("v", mask)
            else:
                pred = ("not", inner)
        else:
            parts = [self._predicate(i) for i in node.items]
            op = np.logical_and if isinstance(node, A.And) else np.logical_or
            flat = [p[1] for p in parts if p[0] == "v"]
            rest = [p for p in parts if p[0] != "v"]
            if flat:
                mask = flat[0].copy()
                for m in flat[1:]:
                    op(mask, m, out=mask)
                context = [i for i, p in enumerate(rest) if p[0] in ("w", "c")]
                if isinstance(node, A.And) and context:  # fold into a context leaf: one gather
                    i = context[0]
                    rest[i] = (rest[i][0], rest[i][1] & mask)
                else:
                    rest = [("v", mask)] + rest
            pred = rest[0] if len(rest) == 1 else ("and" if isinstance(node, A.And) else "or", rest)
        self._preds[key] = pred
        return pred

    def _evaluate(self, pred: tuple, lay: Layout, latent: dict) -> np.ndarray:
        kind, arg = pred
        if kind == "v":
            return lay.gather(arg)
        if kind == "w":
            return lay.gather(arg) & lay.begins_word
        if kind == "c":
            return lay.gather(arg) & lay.joins
        if kind == "L":
            return latent[arg]
        if kind == "not":
            return ~self._evaluate(arg, lay, latent) & lay.is_token
        out = self._evaluate(arg[0], lay, latent)
        op = np.logical_and if kind == "and" else np.logical_or
        for p in arg[1:]:
            out = op(out, self._evaluate(p, lay, latent))
        return out

    # ---- running ----------------------------------------------------------------------
    def run(self, ids, doc_offsets: np.ndarray | None = None, *, latent_masks: dict | None = None) -> MatchResult:
        """Match over a corpus given as token ids and document offsets (doc d is
        ``ids[doc_offsets[d]:doc_offsets[d+1]]``), or over a ``Corpus`` (``run(corpus)``).
        Without offsets, a plain array of ids is one document."""
        if doc_offsets is None:
            if hasattr(ids, "doc_offsets") and hasattr(ids, "ids"):
                ids, doc_offsets = ids.ids, ids.doc_offsets
            else:
                ids = np.asarray(ids)
                doc_offsets = np.array([0, ids.size], dtype=np.int64)
        latent_masks = latent_masks or {}
        result = self._run(np.asarray(ids), doc_offsets, latent_masks)
        if not self.has_marks:  # the positives are the matches' last tokens
            result._last_tokens = result.positives

        def rerun(d: int) -> MatchResult:  # documents 0..d only
            cut = int(np.asarray(doc_offsets)[d + 1])
            masks = {key: np.asarray(m)[:cut] for key, m in latent_masks.items()}
            return self.run(np.asarray(ids)[:cut], np.asarray(doc_offsets)[: d + 2], latent_masks=masks)

        result._rerun = rerun
        return result

    def _run(self, ids: np.ndarray, doc_offsets: np.ndarray, latent_masks: dict) -> MatchResult:
        offsets = np.asarray(doc_offsets)
        missing = [k for k in self.latent_atoms if k not in latent_masks]
        if missing:
            raise ValueError(f"latent_masks lacks the mask for latent {missing[0][0]} (threshold {missing[0][1]})")
        if self.strategy == "token" and self._token_mask() is not None:
            return self._run_token(ids, offsets)
        lay = layout_for(ids, doc_offsets, self.tables)
        padded = {}
        for key in self.latent_atoms:
            mask = np.asarray(latent_masks[key], dtype=bool)
            if mask.shape != (lay.n_tokens,):
                raise ValueError(f"latent mask {key} has shape {mask.shape}, expected ({lay.n_tokens},)")
            padded[key] = lay.pad(mask)
        engine = Engine(lay, lambda node: self._evaluate(self._predicate(node), lay, padded))
        if self.strategy == "backref":
            from tokrex.pattern.backref import run_backref

            return run_backref(self, engine)
        if self.strategy == "token":
            return _run_positions(engine.tok(self.query.body if isinstance(self.query, A.Mark) else self.query), lay)
        return run_engine(self.query, engine, self.has_marks)

    def _token_mask(self) -> np.ndarray | None:
        """The vocabulary mask of a query that is one context-free single-token predicate."""
        body = self.query.body if isinstance(self.query, A.Mark) else self.query
        if not isinstance(body, A.TOKEN_NODES):
            return None
        pred = self._predicate(body)
        return pred[1] if pred[0] == "v" else None

    def _run_token(self, ids: np.ndarray, offsets: np.ndarray) -> MatchResult:
        mask = self._token_mask()
        if ids.size and int(ids.max()) >= self.vocab.size:
            size = self.vocab.size
            raise ValueError(f"token ids must lie in 0..{size - 1} (the vocabulary size is {size})")
        positives = np.flatnonzero(mask[ids])

        def spans():
            doc = np.searchsorted(offsets, positives, side="right") - 1
            start = positives - offsets[doc]
            return doc, start, start + 1

        return MatchResult(positives, offsets, spans)

    def __repr__(self) -> str:
        return f"CompiledPattern({self.text!r}, strategy={self.strategy!r})"


def _run_positions(tokens: np.ndarray, lay: Layout) -> MatchResult:
    """The result of a single-token query whose positions are already known."""
    positives = lay.token_indices(tokens)
    doc = np.searchsorted(lay.offsets, positives, side="right") - 1
    within = positives - lay.offsets[doc]
    return MatchResult(positives, lay.offsets, (doc, within, within + 1))


def run_engine(query: A.Node, engine: Engine, marks: bool) -> MatchResult:
    """Positives and spans of a back-reference-free query."""
    lay = engine.lay

    def last_tokens():  # global index of each match's last token
        ends = engine.fwd(query, engine.ALL, BOOL)
        return lay.token_indices(ends[1:]) if ends is not None else np.zeros(0, dtype=np.int64)

    if marks:
        tokens = engine.marks(query, engine.ALL, engine.ALL)
        positives = lay.token_indices(tokens) if tokens is not None else np.zeros(0, dtype=np.int64)
    else:
        positives = last_tokens()

    def spans():
        best = engine.fwd(query, np.arange(lay.M + 1, dtype=np.int32), engine.MIN)
        if best is None:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        end = np.flatnonzero(best < np.iinfo(np.int32).max)
        doc, within, _ = lay.locate(end - 1)
        return doc, within + 1 - (end - best[end]), within + 1

    result = MatchResult(positives, lay.offsets, spans)
    if marks:
        result._last_tokens = last_tokens
    return result


def simplify(node: A.Node, referenced: frozenset[str] | None = None, memo: dict | None = None) -> A.Node:
    """The matcher's form of a query: single-token alternations as Or, unreferenced captures
    dropped, nested sequences flattened, ``{1}`` removed.  Shared sub-trees stay shared."""
    if referenced is None:
        referenced = frozenset(n.name for n in A.walk(node) if isinstance(n, A.Backref))
    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]

    def again(n):
        return simplify(n, referenced, memo)

    out: A.Node = node
    if isinstance(node, A.Alt):
        options = tuple(again(o) for o in node.options)
        if all(isinstance(o, A.TOKEN_NODES) for o in options):
            out = A.Or(options, node.span)
        else:
            out = A.Alt(options, node.span)
    elif isinstance(node, A.Seq):
        items: list[A.Node] = []
        for item in node.items:
            item = again(item)
            items.extend(item.items if isinstance(item, A.Seq) else (item,))
        out = A.Seq(tuple(items), node.span)
    elif isinstance(node, A.Repeat):
        body = again(node.body)
        out = body if node.min == node.max == 1 else A.Repeat(body, node.min, node.max, node.span)
    elif isinstance(node, A.Capture):
        body = again(node.body)
        out = A.Capture(node.name, body, node.span) if node.name in referenced else body
    elif isinstance(node, A.Mark):
        body = again(node.body)
        out = body if isinstance(body, A.Mark) else A.Mark(body, node.span)
    elif isinstance(node, A.Look):
        out = A.Look(node.direction, node.negate, again(node.body), node.span)
    memo[id(node)] = out
    return out
