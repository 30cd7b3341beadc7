"""Vectorized evaluation of a pattern over a padded corpus layout (see layout.py).

A pattern denotes a relation between boundaries: (s, e) when it matches the span [s, e).  Sets
of boundaries are numpy arrays over 0..M and every construct maps sets to sets at once:

* ``fwd(P, X)``: the ends reached from starts in X by spans of P consuming >= 1 token;
* ``bwd(P, E)``: the starts from which an end in E is reached by such spans;
* ``null(P)``: the boundaries where P matches the empty span (anchors, lookarounds, ``x?``).

The whole-span reach is ``fwd(P, X) | (X & null(P))``.  ``fwd`` also runs over min-plus
arrays (``MIN``): X holds a start position per boundary and the result holds, for every end,
the least start reaching it, which gives each end's longest match.  Lookarounds are masks of
``null``; ``@`` is a forward-backward pass (``marks``).  Nothing loops over tokens; repetition
of a multi-token body loops once per iteration count, with a frontier that shrinks to nothing.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tokrex.pattern import ast as A
from tokrex.pattern import runs
from tokrex.pattern.layout import Layout
from tokrex.pattern.words import word_index

INF = runs.INF
SMALL_REPEAT = 32
"""Bounded repeats of one token up to this many iterations run as single steps."""


def _or(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a | b


class _Bool:
    """Plain boundary sets."""

    @staticmethod
    def union(a, b):
        return _or(a, b)

    @staticmethod
    def restrict(a, null):
        if a is None or null is None:
            return None
        return a if null is True else a & null

    @staticmethod
    def token(X, T):
        out = np.zeros(X.size, dtype=bool)
        np.logical_and(X[:-1], T, out=out[1:])
        return out

    @staticmethod
    def token_run(X, T, lo, hi):
        return runs.forward_bool(X, T, lo, hi)

    @staticmethod
    def star(X, T):
        return runs.star_bool(X, T)

    @staticmethod
    def word(X, starts, ends):
        out = np.zeros(X.size, dtype=bool)
        out[ends[starts & X[:-1]]] = True
        return out

    @staticmethod
    def any(a):
        return a is not None and bool(a.any())

    @staticmethod
    def newer(cur, seen):
        return cur & ~seen


class _Min:
    """Boundary -> least start position reaching it (INF: unreached).

    Restricting to a mask is ``maximum(values, penalty)`` with penalty 0 inside the mask and
    INF outside -- one vectorized max instead of a select; penalties are kept per mask."""

    def __init__(self):
        self._penalties: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._offsets: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def penalty(self, mask: np.ndarray) -> np.ndarray:
        hit = self._penalties.get(id(mask))
        if hit is None:  # the mask stays referenced, so its id is not reused meanwhile
            hit = self._penalties[id(mask)] = (mask, np.where(mask, np.int32(0), np.int32(INF)))
        return hit[1]

    @staticmethod
    def union(a, b):
        if a is None:
            return b
        if b is None:
            return a
        return np.minimum(a, b)

    def restrict(self, a, null):
        if a is None or null is None:
            return None
        return a if null is True else np.maximum(a, self.penalty(null))

    def token(self, X, T):
        out = np.empty(X.size, dtype=np.int32)
        out[0] = INF
        np.maximum(X[:-1], self.penalty(T), out=out[1:])
        return out

    @staticmethod
    def token_run(X, T, lo, hi):
        return runs.forward_min(X, T, lo, hi)

    def star(self, X, T):
        hit = self._offsets.get(id(T))
        if hit is None:
            hit = self._offsets[id(T)] = (T, runs.segment_offsets(T))
        return runs.star_min(X, hit[1], self.penalty(T))

    @staticmethod
    def word(X, starts, ends):
        out = np.full(X.size, INF, dtype=np.int32)
        sel = starts & (X[:-1] < INF)
        out[ends[sel]] = X[:-1][sel]
        return out

    @staticmethod
    def any(a):
        return a is not None and bool((a < INF).any())

    @staticmethod
    def newer(cur, seen):
        return np.where(cur < seen, cur, INF)


BOOL = _Bool()


def token_body(node: A.Node) -> A.Node | None:
    """The single-token predicate under captures, or None."""
    while isinstance(node, A.Capture):
        node = node.body
    return node if isinstance(node, A.TOKEN_NODES) else None


def has_mark(node: A.Node) -> bool:
    return any(isinstance(n, A.Mark) for n in A.walk(node))


class Engine:
    """Evaluates patterns (without back-references) on one layout; caches per-node masks."""

    def __init__(self, layout: Layout, token_mask: Callable[[A.Node], np.ndarray]):
        self.lay = layout
        self.B = layout.M + 1
        self._token_mask = token_mask
        self._cache: dict[tuple[str, int], object] = {}
        self.ALL = np.ones(self.B, dtype=bool)
        self.MIN = _Min()

    def _memo(self, kind: str, node: A.Node, make):
        key = (kind, id(node))
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def tok(self, node: A.Node) -> np.ndarray:
        """(M,) positions whose token satisfies the predicate."""
        return self._memo("tok", node, lambda: self._token_mask(node))

    def word(self, node: A.Word) -> np.ndarray:
        return self._memo("word", node, lambda: word_index(self.lay).match(node.source, node.flags))

    # ---- empty matches ------------------------------------------------------------------
    def null(self, node: A.Node):
        """Where ``node`` matches the empty span: None (nowhere), True (everywhere) or a mask."""
        return self._memo("null", node, lambda: self._null(node))

    def _null(self, node):
        if isinstance(node, (*A.TOKEN_NODES, A.Word)):
            return None
        if isinstance(node, A.DocStart):
            return self.lay.doc_start
        if isinstance(node, A.DocEnd):
            return self.lay.doc_end
        if isinstance(node, A.Look):
            return self.look(node)
        if isinstance(node, (A.Capture, A.Mark)):
            return self.null(node.body)
        if isinstance(node, A.Repeat):
            return True if node.min == 0 else self.null(node.body)
        if isinstance(node, A.Seq):
            out = True
            for item in node.items:
                n = self.null(item)
                if n is None:
                    return None
                out = n if out is True else (out if n is True else out & n)
            return out
        if isinstance(node, A.Alt):
            nulls = [self.null(o) for o in node.options]
            if any(n is True for n in nulls):
                return True
            out = None
            for n in nulls:
                out = _or(out, n)
            return out
        raise NotImplementedError(f"{type(node).__name__} needs the back-reference matcher")

    def look(self, node: A.Look) -> np.ndarray:
        body = node.body
        if node.direction == "ahead":
            found = self.bwd_full(body, self.ALL)
        else:
            found = self.fwd_full(body, self.ALL, BOOL)
        if found is None:
            found = np.zeros(self.B, dtype=bool)
        return ~found if node.negate else found

    # ---- reach --------------------------------------------------------------------------
    def fwd_full(self, node, X, ops):
        return ops.union(self.fwd(node, X, ops), ops.restrict(X, self.null(node)))

    def bwd_full(self, node, E):
        return _or(self.bwd(node, E), BOOL.restrict(E, self.null(node)))

    def fwd(self, node, X, ops):
        """Ends reached from X by spans of ``node`` consuming >= 1 token (None: none)."""
        if X is None:
            return None
        if isinstance(node, A.TOKEN_NODES):
            return ops.token(X, self.tok(node))
        if isinstance(node, A.Word):
            return ops.word(X, self.word(node), self.lay.word_end)
        if isinstance(node, (A.DocStart, A.DocEnd, A.Look)):
            return None
        if isinstance(node, (A.Capture, A.Mark)):
            return self.fwd(node.body, X, ops)
        if isinstance(node, A.Alt):
            out = None
            for o in node.options:
                out = ops.union(out, self.fwd(o, X, ops))
            return out
        if isinstance(node, A.Seq):
            zero, moved = X, None
            for item in node.items:
                n = self.null(item)
                step = self.fwd(item, ops.union(zero, moved), ops)
                moved = ops.union(step, ops.restrict(moved, n))
                zero = ops.restrict(zero, n)
            return moved
        if isinstance(node, A.Repeat):
            tok = token_body(node.body)
            if tok is None:
                return self._iterate(node, X, ops, lambda S: self.fwd(node.body, S, ops))
            T = self.tok(tok)
            if node.max is None:  # lo - 1 single steps, then a run scan
                for _ in range(node.min - 1):
                    X = ops.token(X, T)
                return ops.star(X, T)
            if node.max <= SMALL_REPEAT:
                return self._iterate(node, X, ops, lambda S: ops.token(S, T))
            return ops.token_run(X, T, node.min, node.max)
        raise NotImplementedError(f"{type(node).__name__} needs the back-reference matcher")

    def bwd(self, node, E):
        """Starts from which spans of ``node`` consuming >= 1 token reach E (boolean)."""
        if E is None:
            return None
        if isinstance(node, A.TOKEN_NODES):
            return self._token_back(E, self.tok(node))
        if isinstance(node, A.Word):
            out = np.zeros(self.B, dtype=bool)
            starts = self.word(node)
            out[:-1] = starts & E[np.where(starts, self.lay.word_end, 0)]
            return out
        if isinstance(node, (A.DocStart, A.DocEnd, A.Look)):
            return None
        if isinstance(node, (A.Capture, A.Mark)):
            return self.bwd(node.body, E)
        if isinstance(node, A.Alt):
            out = None
            for o in node.options:
                out = _or(out, self.bwd(o, E))
            return out
        if isinstance(node, A.Seq):
            zero, moved = E, None
            for item in reversed(node.items):
                n = self.null(item)
                step = self.bwd(item, _or(zero, moved))
                moved = _or(step, BOOL.restrict(moved, n))
                zero = BOOL.restrict(zero, n)
            return moved
        if isinstance(node, A.Repeat):
            tok = token_body(node.body)
            if tok is None:
                return self._iterate(node, E, BOOL, lambda S: self.bwd(node.body, S))
            T = self.tok(tok)
            if node.max is None:
                for _ in range(node.min - 1):
                    E = self._token_back(E, T)
                return runs.star_bool_back(E, T)
            if node.max <= SMALL_REPEAT:
                return self._iterate(node, E, BOOL, lambda S: self._token_back(S, T))
            return runs.backward_bool(E, T, node.min, node.max)
        raise NotImplementedError(f"{type(node).__name__} needs the back-reference matcher")

    def _token_back(self, E, T):
        out = np.zeros(self.B, dtype=bool)
        np.logical_and(T, E[1:], out=out[:-1])
        return out

    def _iterate(self, node: A.Repeat, X, ops, step):
        """Consuming reach of ``body{min,max}``: k >= 1 consuming iterations, k <= max, and when
        k < min an empty-matching position somewhere on the path (it supplies the missing
        zero-length iterations)."""
        if node.max == 0:
            return None
        N = self.null(node.body)
        m = 0 if N is True else node.min
        result = None
        if N is None or m <= 1:
            pre = X
            for _ in range(1, m):
                pre = step(pre)
                if not ops.any(pre):
                    return None
        else:  # split paths by whether they have passed an empty-matching position yet
            not_n = ~N
            without, with_ = ops.restrict(X, not_n), ops.restrict(X, N)
            for _ in range(1, m):
                a, b = step(without), step(with_)
                without = ops.restrict(a, not_n)
                with_ = ops.union(b, ops.restrict(a, N))
                result = ops.union(result, with_)
            pre = ops.union(without, with_)
        cur = step(pre)
        if not ops.any(cur):
            return result
        count, seen = max(m, 1), cur
        result = ops.union(result, cur)
        while node.max is None or count < node.max:
            cur = step(cur)
            count += 1
            if not ops.any(cur):
                break
            cur = ops.newer(cur, seen)
            if not ops.any(cur):
                break
            seen = ops.union(seen, cur)
            result = ops.union(result, cur)
        return result

    def marks(self, node, In, Out, marked: bool = False):
        """(M,) tokens consumed by @-marked items on paths of ``node`` from In to Out (see marks.py)."""
        from tokrex.pattern.marks import marks

        return marks(self, node, In, Out, marked)
