"""Back-references: a vectorized path for the induction family and an exact general path.

Induction family: ``X (?<a>P) G \\k<a> Z`` at the top level, where P always consumes the same
number k of tokens, G is empty, one single-token item, or a repeated single-token item, and
X and Z have no back-references.  Captured texts become integer ids (a core-text id, or for
k > 1 an id per distinct k-gram of core texts), so "the same text occurred earlier within the
gap" is a sorted search over (text id, position) keys -- no loop over tokens.

The same search serves ``X (?<a>P) (?= G \\k<a>) Z`` (and ``(?!``): the lookahead becomes a mask
of the boundaries after a capture whose text follows across the gap, and the engine runs the rest.

Everything else runs the exact path (exact.py) on the documents where a relaxed form of the
pattern (back-references replaced by runs of ``.`` of the capture's length) matches at all.
"""

from __future__ import annotations

import numpy as np

from tokrex.pattern import ast as A
from tokrex.pattern.match import BOOL, INF, Engine, _or, has_mark
from tokrex.pattern.result import MatchResult
from tokrex.pattern.induction import grouped, kgram_ids, offsets
from tokrex.pattern.runs import run_before


def run_backref(compiled, engine: Engine) -> MatchResult:
    """Match a query with back-references: vectorized when it is of the induction family."""
    shape = induction_shape(compiled.query)
    if shape is not None:
        return _run_induction(shape, engine)
    look = lookahead_shape(compiled.query)
    if look is not None:
        return _run_lookahead(look, compiled, engine)
    from tokrex.pattern.exact import run_exact

    return run_exact(compiled.query, engine, compiled.has_marks)


def _unmark(node: A.Node) -> A.Node:
    return node.body if isinstance(node, A.Mark) else node


def _gap(node: A.Node) -> tuple[A.Node, int, int | None] | None:
    """(single-token predicate, min, max) of a gap item, or None when not of that form."""
    node = _unmark(node)
    lo, hi = 1, 1
    if isinstance(node, A.Repeat):
        node, lo, hi = _unmark(node.body), node.min, node.max
    return (node, lo, hi) if isinstance(node, A.TOKEN_NODES) else None


def lookahead_shape(query: A.Node) -> dict | None:
    """``X (?<a>P) (?= G \\k<a>) Z`` (or ``(?!``): the capture's text repeats (or not) ahead."""
    items = query.items if isinstance(query, A.Seq) else (query,)
    refs = [n for n in A.walk(query) if isinstance(n, A.Backref)]
    looks = [k for k, it in enumerate(items) if isinstance(it, A.Look) and it.direction == "ahead"]
    if len(refs) != 1 or not looks:
        return None
    for j in looks:
        body = items[j].body
        parts = body.items if isinstance(body, A.Seq) else (body,)
        if parts[-1] is not refs[0] or len(parts) > 2 or j == 0:
            continue
        cap = _unmark(items[j - 1])
        if not isinstance(cap, A.Capture) or cap.name != refs[0].name:
            continue
        if sum(isinstance(n, A.Capture) and n.name == cap.name for n in A.walk(query)) != 1:
            return None
        inner = A.Seq((cap, *parts))
        shape = induction_shape(inner)
        if shape is None or shape["before"] is not None or shape["after"] is not None or has_mark(inner):
            return None
        return {**shape, "look": items[j]}
    return None


def _run_lookahead(shape: dict, compiled, engine: Engine) -> MatchResult:
    """The lookahead is a mask over boundaries: after a capture at p (the k tokens before the
    boundary), does the same text follow across a matching gap?  Then the engine runs as usual."""
    from tokrex.pattern.compile import run_engine

    lay = engine.lay
    M, B, k = lay.M, lay.M + 1, shape["k"]
    kg = kgram_ids(lay.core_ids, k)
    A_ = _or(engine.bwd(shape["capture"], engine.ALL), np.zeros(B, dtype=bool))[:M] & (kg >= 0)
    Q = kg >= 0
    pairs = _search(shape, engine, kg, A_, Q, want_capture=True)
    found = np.zeros(B, dtype=bool)
    found[k:] = pairs.capture[: B - k]
    look = shape["look"]
    engine._cache[("null", id(look))] = ~found if look.negate else found
    return run_engine(compiled.query, engine, compiled.has_marks)


def _search(shape: dict, engine: Engine, kg, A_, Q, want_capture: bool, start_x=None):
    """Pairs of capture starts (A_) and reference starts (Q) with equal text across the gap."""
    lay, k = engine.lay, shape["k"]
    if shape["gap"] is None:
        lo, hi, T = 0, 0, np.zeros(lay.M, dtype=bool)
    else:
        tok, lo, hi = shape["gap"]
        T = engine.tok(tok)
    if hi is None and np.array_equal(T, lay.is_token):
        return grouped(lay, kg, k, A_, Q, k + lo, start_x, want_capture)
    return offsets(lay, kg, k, A_, Q, T, run_before(T), lo, hi, start_x, want_capture)


def induction_shape(query: A.Node) -> dict | None:
    """The parts of an induction-family query, or None."""
    items = query.items if isinstance(query, A.Seq) else (query,)
    refs = [n for n in A.walk(query) if isinstance(n, A.Backref)]
    if len(refs) != 1:
        return None
    name = refs[0].name
    caps = [n for n in A.walk(query) if isinstance(n, A.Capture) and n.name == name]
    i = next((k for k, it in enumerate(items) if _unmark(it) in caps), None)
    j = next((k for k, it in enumerate(items) if _unmark(it) is refs[0]), None)
    if len(caps) != 1 or i is None or j is None or not i < j <= i + 2:
        return None
    body = caps[0].body
    lo, hi = A.length_range(body)
    if lo != hi or lo < 1 or any(isinstance(n, (A.Capture, A.Backref)) for n in A.walk(body)):
        return None
    gap = None
    if j == i + 2:
        gap = _gap(items[i + 1])
        if gap is None:
            return None
    rest = items[:i] + items[j + 1 :]
    if any(isinstance(n, (A.Capture, A.Backref)) for it in rest for n in A.walk(it)):
        return None

    def seq(parts):
        return None if not parts else parts[0] if len(parts) == 1 else A.Seq(tuple(parts))

    return {
        "before": seq(items[:i]),
        "capture": items[i],
        "k": lo,
        "gap": gap,
        "gap_item": items[i + 1] if gap else None,
        "ref": items[j],
        "after": seq(items[j + 1 :]),
    }


def _run_induction(shape: dict, engine: Engine) -> MatchResult:
    lay = engine.lay
    M, B, k = lay.M, lay.M + 1, shape["k"]
    X, Z = shape["before"], shape["after"]
    cap_body = shape["capture"]
    kg = kgram_ids(lay.core_ids, k)
    none = np.zeros(B, dtype=bool)

    # Capture starts reachable from a match start; reference starts from which Z can finish.
    starts = _or(engine.fwd_full(X, engine.ALL, BOOL), none) if X is not None else engine.ALL
    A = (starts & _or(engine.bwd(cap_body, engine.ALL), none))[:M]
    ends = _or(engine.bwd_full(Z, engine.ALL), none) if Z is not None else engine.ALL
    Q = np.zeros(M, dtype=bool)
    Q[: B - k] = ends[k:]
    marked = engine_has_marks(shape)

    def search(start_x=None):
        return _search(shape, engine, kg, A, Q, marked, start_x)

    pairs = search()
    vq = pairs.q
    if not marked:
        ref_end = np.zeros(B, dtype=bool)
        ref_end[vq + k] = True
        fin = engine.fwd_full(Z, ref_end, BOOL) if Z is not None else ref_end
        positives = lay.token_indices(_or(fin, none)[1:])
    else:
        positives = lay.token_indices(_marks(shape, engine, pairs))

    def spans():
        if vq.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        if X is None:
            start_of = pairs.first
        else:
            reach = engine.fwd_full(X, np.arange(B, dtype=np.int32), engine.MIN)
            if np.all(np.diff(reach[np.flatnonzero(A)]) >= 0):  # starts grow with the capture
                start_of = reach[pairs.first]
            else:
                start_of = search(reach.astype(np.int64)).start
        seed = np.full(B, INF, dtype=np.int32)
        np.minimum.at(seed, vq + k, start_of.astype(np.int32))
        best = engine.fwd_full(Z, seed, engine.MIN) if Z is not None else seed
        best = np.full(B, INF, dtype=np.int32) if best is None else best
        end = np.flatnonzero(best < INF)
        doc, within, _ = lay.locate(end - 1)
        return doc, within + 1 - (end - best[end]), within + 1

    return MatchResult(positives, lay.offsets, spans)


def _marks(shape: dict, engine: Engine, pairs) -> np.ndarray:
    """(M,) tokens consumed by @ items in some match."""
    lay, k = engine.lay, shape["k"]
    M, B = lay.M, lay.M + 1
    X, Z = shape["before"], shape["after"]
    cap = np.zeros(B, dtype=bool)
    cap[:M] = pairs.capture
    cap_end = np.zeros(B, dtype=bool)
    cap_end[np.flatnonzero(pairs.capture) + k] = True
    ref = np.zeros(B, dtype=bool)
    ref[pairs.q] = True
    ref_end = np.zeros(B, dtype=bool)
    ref_end[pairs.q + k] = True
    tokens = np.zeros(M, dtype=bool)
    for part in (
        engine.marks(X, engine.ALL, cap) if X is not None else None,
        engine.marks(shape["capture"], cap, cap_end),
        engine.marks(Z, ref_end, engine.ALL) if Z is not None else None,
    ):
        if part is not None:
            tokens |= part

    def cover(lo, hi):  # tokens in the union of [lo, hi)
        delta = np.zeros(B + 1, dtype=np.int32)
        np.add.at(delta, lo, 1)
        np.add.at(delta, hi, -1)
        return np.cumsum(delta[:M]) > 0

    if shape["gap_item"] is not None and has_mark(shape["gap_item"]):
        tokens |= cover(pairs.first + k, pairs.q)
    if isinstance(shape["ref"], A.Mark):
        tokens |= cover(pairs.q, pairs.q + k)
    return tokens


def engine_has_marks(shape: dict) -> bool:
    return any(
        part is not None and has_mark(part)
        for part in (shape["before"], shape["capture"], shape["gap_item"], shape["ref"], shape["after"])
    )
