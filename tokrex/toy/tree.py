"""The ground-truth feature tree of the toy model: reading and checking it, and sampling from it.

A tree is JSON, one object per node (the format of Nabeshima's matryoshka-saes toy model)::

    {"active_prob": 1.0, "is_read_out": false, "children": [
        {"active_prob": 0.15, "mutually_exclusive_children": true, "children": [
            {"active_prob": 0.2}, {"active_prob": 0.2}, {"active_prob": 0.2},
            {"active_prob": 0.4, "is_read_out": false}]},
        {"active_prob": 0.05}]}

- ``active_prob``: probability that the node is active given that its parent is; for the children
  of a node with ``mutually_exclusive_children``, the probability that this child is *the* one
  chosen (they sum to at most 1; the rest means no child).
- ``is_read_out`` (default true): the feature has a direction in activation space.
- ``is_binary`` (default true): magnitude 1 when active, else uniform in [0, 1).
- ``id`` (optional): a name used in messages.

Read-out nodes, in depth-first order, are the ground-truth features ``0..n-1``; a feature's
parent is its nearest read-out ancestor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from tokrex.errors import ToyError

KEYS = {"active_prob", "is_read_out", "is_binary", "mutually_exclusive_children", "children", "id"}
DEFAULT = "default_tree.json"


@dataclass
class Node:
    """One node of the tree, with its place in it."""

    active_prob: float
    is_read_out: bool = True
    is_binary: bool = True
    exclusive: bool = False
    id: str | None = None
    parent: int | None = None
    """Index of the parent node in ``Tree.nodes`` (None for the root)."""
    children: list[int] = field(default_factory=list)
    feature: int | None = None
    """Index of this node's ground-truth feature (read-out nodes only)."""
    where: str = "root"
    """The node's path in the file, for messages (e.g. root.children[2].children[0])."""


@dataclass
class Tree:
    """The nodes in depth-first order, and the read-out features among them."""

    nodes: list[Node]
    source: dict[str, Any]
    """The tree as JSON, with every default filled in."""
    name: str = "default"

    @property
    def n_features(self) -> int:
        return sum(n.is_read_out for n in self.nodes)

    @property
    def features(self) -> list[Node]:
        return [n for n in self.nodes if n.is_read_out]

    def __post_init__(self) -> None:
        # each feature's nearest read-out ancestor, and the inverse, worked out once
        self._parent: list[int | None] = []
        for node in self.features:
            i = node.parent
            while i is not None and not self.nodes[i].is_read_out:
                i = self.nodes[i].parent
            self._parent.append(None if i is None else self.nodes[i].feature)
        self._children: list[list[int]] = [[] for _ in self._parent]
        for f, parent in enumerate(self._parent):
            if parent is not None:
                self._children[parent].append(f)

    def feature_parent(self, feature: int) -> int | None:
        """The nearest read-out ancestor's feature index (None at the top)."""
        return self._parent[feature]

    def feature_children(self, feature: int) -> list[int]:
        """Features whose parent is ``feature``."""
        return list(self._children[feature])

    def feature_probs(self) -> list[float]:
        """Marginal probability that each feature is active."""
        probs = []
        for node in self.nodes:
            p = node.active_prob * (probs[node.parent] if node.parent is not None else 1.0)
            probs.append(p)
        return [p for p, n in zip(probs, self.nodes) if n.is_read_out]

    def expected_l0(self) -> float:
        """Mean number of active features per sample."""
        return float(sum(self.feature_probs()))

    def label(self, feature: int) -> str:
        node = self.features[feature]
        return node.id if node.id is not None else str(feature)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``[n, n_features]`` feature magnitudes (0 where inactive), drawn without Python loops over samples."""
        active = torch.zeros(len(self.nodes), n, dtype=torch.bool)
        choice: dict[int, torch.Tensor] = {}
        mags = torch.zeros(n, self.n_features)
        for i, node in enumerate(self.nodes):
            u = torch.rand(n, generator=gen)
            if node.parent is None:
                on = u < node.active_prob
            elif self.nodes[node.parent].exclusive:
                on = active[node.parent] & (choice[node.parent] == self.nodes[node.parent].children.index(i))
            else:
                on = active[node.parent] & (u < node.active_prob)
            active[i] = on
            if node.exclusive:
                cum = torch.tensor([self.nodes[c].active_prob for c in node.children], dtype=torch.float64).cumsum(0)
                choice[i] = torch.searchsorted(cum, torch.rand(n, generator=gen, dtype=torch.float64), right=True)
            if node.is_read_out:
                mag = torch.ones(n) if node.is_binary else torch.rand(n, generator=gen)
                mags[:, node.feature] = mag * on
        return mags


def default_tree() -> Tree:
    """The reference tree: three parents (p=0.15) with three exclusive read-out children each, and
    eight independent features (p=0.05)."""
    text = resources.files("tokrex.toy").joinpath(DEFAULT).read_text(encoding="utf-8")
    return parse_tree(json.loads(text), name="default")


def load_tree(path: str | Path | None) -> Tree:
    """The tree in a JSON file, checked; ``None`` gives the default tree."""
    if path is None:
        return default_tree()
    p = Path(path).expanduser()
    if not p.is_file():
        raise ToyError(f"Tree file {p} does not exist; pass a JSON tree file (see docs/toy.md) or leave out --tree.")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ToyError(f"Tree file {p} is not valid JSON ({exc}); fix the file (see docs/toy.md).") from None
    return parse_tree(data, name=str(p))


def parse_tree(data: Any, name: str = "tree") -> Tree:
    """Check a tree given as parsed JSON; errors name the offending node."""
    nodes: list[Node] = []
    ids: set[str] = set()
    _parse_node(data, None, "root", nodes, ids)
    n_features = 0
    for node in nodes:
        if node.is_read_out:
            node.feature, n_features = n_features, n_features + 1
    if n_features == 0:
        raise ToyError(f"Tree {name} has no read-out feature; mark at least one node \"is_read_out\": true.")
    return Tree(nodes=nodes, source=_filled(data), name=name)


def _parse_node(data: Any, parent: int | None, where: str, nodes: list[Node], ids: set[str]) -> int:
    if not isinstance(data, dict):
        raise ToyError(f"Tree node {where} must be a JSON object, got {type(data).__name__}.")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ToyError(f"Tree node {_name(data, where)} has unknown key {unknown[0]!r}; allowed: {', '.join(sorted(KEYS))}.")
    if "active_prob" not in data:
        raise ToyError(f"Tree node {_name(data, where)} has no \"active_prob\"; give its probability of being active.")
    p = data["active_prob"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ToyError(f"Tree node {_name(data, where)}: \"active_prob\" must be a number between 0 and 1, got {p!r}.")
    for key in ("is_read_out", "is_binary", "mutually_exclusive_children"):
        if key in data and not isinstance(data[key], bool):
            raise ToyError(f"Tree node {_name(data, where)}: {key!r} must be true or false, got {data[key]!r}.")
    ident = data.get("id")
    if ident is not None:
        if not isinstance(ident, str):
            raise ToyError(f"Tree node {where}: \"id\" must be a string, got {ident!r}.")
        if ident in ids:
            raise ToyError(f"Tree node {_name(data, where)}: id {ident!r} is used twice; ids must be unique.")
        ids.add(ident)
    children = data.get("children", [])
    if not isinstance(children, list):
        raise ToyError(f"Tree node {_name(data, where)}: \"children\" must be a list of nodes.")
    exclusive = data.get("mutually_exclusive_children", False)
    if exclusive:
        if len(children) < 2:
            raise ToyError(f"Tree node {_name(data, where)} has mutually exclusive children but fewer than two children.")
        total = sum(c.get("active_prob", 0) for c in children if isinstance(c, dict)
                    and isinstance(c.get("active_prob"), (int, float)))
        if total > 1 + 1e-6:
            raise ToyError(f"Tree node {_name(data, where)}: its mutually exclusive children's probabilities sum to "
                           f"{total:g} > 1; they are the chances that each one is the chosen child.")
    node = Node(active_prob=float(p), is_read_out=data.get("is_read_out", True), is_binary=data.get("is_binary", True),
                exclusive=exclusive, id=ident, parent=parent, where=where)
    nodes.append(node)
    index = len(nodes) - 1
    for j, child in enumerate(children):
        node.children.append(_parse_node(child, index, f"{where}.children[{j}]", nodes, ids))
    return index


def _name(data: dict, where: str) -> str:
    ident = data.get("id")
    return f"{where} ({ident!r})" if isinstance(ident, str) else where


def _filled(data: dict) -> dict[str, Any]:
    """The node with its defaults written out (the tree as the report records it)."""
    out: dict[str, Any] = {}
    if "id" in data:
        out["id"] = data["id"]
    out["active_prob"] = data["active_prob"]
    out["is_read_out"] = data.get("is_read_out", True)
    out["is_binary"] = data.get("is_binary", True)
    out["mutually_exclusive_children"] = data.get("mutually_exclusive_children", False)
    out["children"] = [_filled(c) for c in data.get("children", [])]
    return out
