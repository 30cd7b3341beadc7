"""The toy model's feature tree: the default tree, sampling from it, and errors that name the node."""

from __future__ import annotations

import json

import pytest
import torch

from tokrex.errors import ToyError
from tokrex.toy import default_tree, load_tree, parse_tree

from train_fixtures import one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def test_default_tree_shape():
    tree = default_tree()
    assert tree.n_features == 20
    labels = [tree.label(f) for f in range(tree.n_features)]
    assert labels == ["A", "A1", "A2", "A3", "B", "B1", "B2", "B3", "C", "C1", "C2", "C3",
                      *(f"I{i}" for i in range(1, 9))]
    for parent in (0, 4, 8):
        assert tree.feature_parent(parent) is None
        assert tree.feature_children(parent) == [parent + 1, parent + 2, parent + 3]
        for child in tree.feature_children(parent):
            assert tree.feature_parent(child) == parent and tree.feature_children(child) == []
    for independent in range(12, 20):
        assert tree.feature_parent(independent) is None and tree.feature_children(independent) == []
    assert tree.expected_l0() == pytest.approx(1.12)
    probs = tree.feature_probs()
    assert probs[0] == pytest.approx(0.15) and probs[1] == pytest.approx(0.03) and probs[12] == pytest.approx(0.05)


def test_default_tree_source_has_defaults_filled_in():
    source = default_tree().source
    assert source["id"] == "root" and source["is_read_out"] is False
    a = source["children"][0]
    assert a["mutually_exclusive_children"] is True and a["is_binary"] is True
    assert a["children"][3] == {"id": "A-none", "active_prob": 0.4, "is_read_out": False, "is_binary": True,
                                "mutually_exclusive_children": False, "children": []}


def test_sample_frequencies_and_exclusivity():
    tree = default_tree()
    n = 200_000
    mags = tree.sample(n, torch.Generator().manual_seed(0))
    assert mags.shape == (n, 20)
    active = mags > 0
    freq = active.float().mean(0)
    assert torch.allclose(freq, torch.tensor(tree.feature_probs()), atol=0.005), freq
    assert set(mags.unique().tolist()) <= {0.0, 1.0}  # every feature of the default tree is binary
    for parent in (0, 4, 8):
        kids = active[:, tree.feature_children(parent)]
        assert int(kids.sum(1).max()) <= 1, "mutually exclusive children active together"
        assert not bool((kids.any(1) & ~active[:, parent]).any()), "a child active without its parent"
        # the silent branch takes the rest: 60% of active parents have a read-out child
        share = kids.any(1)[active[:, parent]].float().mean()
        assert float(share) == pytest.approx(0.6, abs=0.03)


def test_sample_is_reproducible_and_non_binary_magnitudes():
    tree = parse_tree({"active_prob": 1.0, "children": [{"active_prob": 0.5, "is_binary": False}]})
    a = tree.sample(1000, torch.Generator().manual_seed(3))
    b = tree.sample(1000, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert bool((a[:, 0] == 1).all())  # the root is a read-out feature here, always on
    child = a[:, 1]
    assert 0 < float(child.max()) < 1 and bool((child[child > 0] < 1).all())


def _child(**node):
    return {"active_prob": 1.0, "is_read_out": False, "children": [node]}


BAD_TREES = [
    # (case, tree as parsed JSON, words the message must contain)
    ("not an object", [1, 2], ["root must be a JSON object", "list"]),
    ("child not an object", {"active_prob": 1.0, "children": [{"active_prob": 0.1}, 3]},
     ["root.children[1] must be a JSON object"]),
    ("missing active_prob", _child(id="x", is_binary=True), ["root.children[0] ('x')", '"active_prob"']),
    ("prob above 1", _child(id="p", active_prob=1.5), ["root.children[0] ('p')", "between 0 and 1", "1.5"]),
    ("negative prob", _child(active_prob=-0.1), ["root.children[0]", "between 0 and 1"]),
    ("prob not a number", _child(active_prob="0.2"), ["root.children[0]", "between 0 and 1"]),
    ("unknown key", _child(id="k", active_prob=0.1, colour="red"), ["root.children[0] ('k')", "unknown key 'colour'"]),
    ("non-bool flag", _child(active_prob=0.1, is_binary="yes"), ["root.children[0]", "'is_binary' must be true or false"]),
    ("non-bool exclusive flag", _child(active_prob=0.1, mutually_exclusive_children=1),
     ["root.children[0]", "'mutually_exclusive_children'"]),
    ("exclusive with one child",
     _child(id="e", active_prob=0.1, mutually_exclusive_children=True, children=[{"active_prob": 0.5}]),
     ["root.children[0] ('e')", "fewer than two children"]),
    ("exclusive probabilities above 1",
     _child(id="s", active_prob=0.1, mutually_exclusive_children=True,
            children=[{"active_prob": 0.6}, {"active_prob": 0.5}]),
     ["root.children[0] ('s')", "sum to 1.1 > 1"]),
    ("duplicate id", {"active_prob": 1.0, "is_read_out": False, "children": [
        {"id": "a", "active_prob": 0.1}, {"id": "b", "active_prob": 0.1, "children": [{"id": "a", "active_prob": 0.5}]}]},
     ["root.children[1].children[0] ('a')", "used twice"]),
    ("id not a string", _child(id=7, active_prob=0.1), ["root.children[0]", '"id" must be a string']),
    ("children not a list", {"active_prob": 1.0, "children": {"active_prob": 0.1}}, ["root", '"children" must be a list']),
    ("deep node", {"active_prob": 1.0, "children": [{"active_prob": 0.2, "children": [
        {"active_prob": 0.3}, {"id": "deep", "active_prob": 2}]}]},
     ["root.children[0].children[1] ('deep')", "between 0 and 1"]),
    ("no read-out feature", {"active_prob": 1.0, "is_read_out": False, "children": [{"active_prob": 0.5, "is_read_out": False}]},
     ["no read-out feature", '"is_read_out": true']),
]


@pytest.mark.parametrize("case,data,words", BAD_TREES, ids=[c for c, _, _ in BAD_TREES])
def test_bad_trees_name_the_node(case, data, words):
    with pytest.raises(ToyError) as info:
        parse_tree(data)
    message = str(info.value)
    for word in words:
        assert word in message, (case, message)
    assert info.value.exit_code == 1


@pytest.mark.parametrize("case,data,words", BAD_TREES[:3], ids=[c for c, _, _ in BAD_TREES[:3]])
def test_bad_tree_files_name_the_node(case, data, words, tmp_path):
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ToyError) as info:
        load_tree(path)
    for word in words:
        assert word in str(info.value)


def test_invalid_json_and_missing_file(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"active_prob": 1.0,', encoding="utf-8")
    with pytest.raises(ToyError, match=r"broken\.json is not valid JSON"):
        load_tree(broken)
    with pytest.raises(ToyError, match=r"nope\.json does not exist"):
        load_tree(tmp_path / "nope.json")
    with pytest.raises(ToyError, match="does not exist"):
        load_tree(tmp_path)  # a directory is not a tree file


def test_load_tree_none_and_file_round_trip(tmp_path):
    assert load_tree(None).source == default_tree().source
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(default_tree().source), encoding="utf-8")
    tree = load_tree(path)
    assert tree.source == default_tree().source and tree.name == str(path)
    assert tree.expected_l0() == pytest.approx(1.12)
