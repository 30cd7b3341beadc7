"""A slow, obviously-correct matcher for the tokrex language, used only by tests.

It transcribes docs/language.md directly: every parse of the pattern from every start position
of every document is enumerated (results are deduplicated sets, nothing clever), and the
positives and longest spans are read off the successful parses.  The fast matcher in
``tokrex.pattern`` must agree with it on every pattern and corpus.
"""

from __future__ import annotations

import regex

from tokrex.corpus import Vocab
from tokrex.pattern import ast as A

_WORD = regex.compile(r"\w")


class _Doc:
    def __init__(self, ids: list[int], start: int, vocab: Vocab, latent_masks):
        self.ids = ids
        self.start = start
        self.vocab = vocab
        self.latent_masks = latent_masks or {}

    def __len__(self) -> int:
        return len(self.ids)

    def core(self, p: int) -> str:
        return self.vocab.core[self.ids[p]]

    def surface(self, p: int) -> str:
        return self.vocab.surface[self.ids[p]]

    def joins(self, p: int) -> bool:
        """Token p joins the previous token of its document."""
        if p == 0:
            return False
        tid = self.ids[p]
        return (
            not self.vocab.word_start[tid]
            and bool(_WORD.match(self.vocab.surface[tid][:1]))
            and bool(_WORD.match(self.core(p - 1)[-1:]))
        )

    def begins_word(self, p: int) -> bool:
        return bool(_WORD.match(self.core(p)[:1])) and not self.joins(p)

    def token_matches(self, node: A.TokenNode, p: int) -> bool:
        if isinstance(node, A.Regex):
            text = self.surface(p) if "s" in node.flags else self.core(p)
            if not regex.fullmatch(node.source, text, regex.IGNORECASE if "i" in node.flags else 0):
                return False
            if "w" in node.flags and not self.begins_word(p):
                return False
            return not ("c" in node.flags and not self.joins(p))
        if isinstance(node, A.Any):
            return True
        if isinstance(node, A.TokenId):
            return self.ids[p] == node.id
        if isinstance(node, A.Latent):
            return bool(self.latent_masks[(node.latent, node.threshold)][self.start + p])
        if isinstance(node, A.Not):
            return not self.token_matches(node.item, p)
        if isinstance(node, A.And):
            return all(self.token_matches(i, p) for i in node.items)
        if isinstance(node, A.Or):
            return any(self.token_matches(i, p) for i in node.items)
        raise TypeError(node)

    def word_end(self, p: int) -> int | None:
        """End of the word starting at p, or None when no word starts at p."""
        if not self.begins_word(p):
            return None
        e = p + 1
        while e < len(self) and self.joins(e):
            e += 1
        return e


def _env_get(env, name):
    for key, value in env:
        if key == name:
            return value
    return None


def _env_set(env, name, value):
    return tuple(sorted([(k, v) for k, v in env if k != name] + [(name, value)]))


def _run(node: A.Node, doc: _Doc, pos: int, env) -> set:
    """Every outcome (end, env, marks) of matching ``node`` at ``pos`` under ``env``."""
    if isinstance(node, A.TOKEN_NODES):
        if pos < len(doc) and doc.token_matches(node, pos):
            return {(pos + 1, env, frozenset())}
        return set()
    if isinstance(node, A.Word):
        end = doc.word_end(pos) if pos < len(doc) else None
        if end is None:
            return set()
        text = doc.core(pos) + "".join(doc.surface(q) for q in range(pos + 1, end))
        if regex.fullmatch(node.source, text, regex.IGNORECASE if "i" in node.flags else 0):
            return {(end, env, frozenset())}
        return set()
    if isinstance(node, A.Seq):
        states = {(pos, env, frozenset())}
        for item in node.items:
            states = {(e, env2, mk | mk2) for (p, env1, mk) in states for (e, env2, mk2) in _run(item, doc, p, env1)}
        return states
    if isinstance(node, A.Alt):
        return set().union(*(_run(o, doc, pos, env) for o in node.options))
    if isinstance(node, A.Repeat):
        return _repeat(node, doc, pos, env, 0)
    if isinstance(node, A.DocStart):
        return {(pos, env, frozenset())} if pos == 0 else set()
    if isinstance(node, A.DocEnd):
        return {(pos, env, frozenset())} if pos == len(doc) else set()
    if isinstance(node, A.Look):
        if node.direction == "ahead":
            found = bool(_run(node.body, doc, pos, env))
        else:
            found = any(e == pos for s in range(pos, -1, -1) for (e, _, _) in _run(node.body, doc, s, env))
        return {(pos, env, frozenset())} if found != node.negate else set()
    if isinstance(node, A.Capture):
        return {
            (e, _env_set(env2, node.name, tuple(doc.core(q) for q in range(pos, e))), mk)
            for (e, env2, mk) in _run(node.body, doc, pos, env)
        }
    if isinstance(node, A.Backref):
        value = _env_get(env, node.name)
        if value is None or pos + len(value) > len(doc):
            return set()
        if all(doc.core(pos + k) == value[k] for k in range(len(value))):
            return {(pos + len(value), env, frozenset())}
        return set()
    if isinstance(node, A.Mark):
        return {(e, env2, mk | frozenset(range(pos, e))) for (e, env2, mk) in _run(node.body, doc, pos, env)}
    raise TypeError(node)


def _repeat(node: A.Repeat, doc: _Doc, pos: int, env, done: int) -> set:
    out = set()
    if done >= node.min:
        out.add((pos, env, frozenset()))
    if node.max is not None and done >= node.max:
        return out
    for e, env2, mk in _run(node.body, doc, pos, env):
        if e == pos and done >= node.min:
            continue  # iterations past the minimum must consume a token
        for e2, env3, mk2 in _repeat(node, doc, e, env2, done + 1):
            out.add((e2, env3, mk | mk2))
    return out


def reference_match(query: A.Node, vocab: Vocab, ids, doc_offsets, latent_masks=None):
    """(positives as sorted global indices, [(doc, start, end)] longest span per distinct end)."""
    has_mark = any(isinstance(n, A.Mark) for n in A.walk(query))
    positives: set[int] = set()
    matches = []
    ids = [int(i) for i in ids]
    for d in range(len(doc_offsets) - 1):
        lo, hi = int(doc_offsets[d]), int(doc_offsets[d + 1])
        doc = _Doc(ids[lo:hi], lo, vocab, latent_masks)
        best: dict[int, int] = {}
        for s in range(len(doc) + 1):
            for e, _, marks in _run(query, doc, s, ()):
                if e <= s:
                    continue  # a match consumes at least one token
                best[e] = min(best.get(e, s), s)
                positives.update(lo + m for m in (marks if has_mark else (e - 1,)))
        matches.extend((d, best[e], e) for e in sorted(best))
    return sorted(positives), matches
