"""tokrex checkpoints: cfg.json + sae.safetensors round trip, atomic, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from train_fixtures import random_sae, one_thread  # noqa: F401

from tokrex.errors import SaeError
from tokrex.sae.checkpoint import load_checkpoint, load_train_state, save_checkpoint
from tokrex.sae.meta import SaeMeta

pytestmark = pytest.mark.usefixtures("one_thread")


def _meta():
    return SaeMeta(model="my/model", layer=3, hook="resid_post", ctx=64, tokenizer_hash="ab" * 32,
                   extra={"objective": "matryoshka-groups", "model_identity": {"config_hash": "c0ffee"}})


@pytest.mark.parametrize("activation,k", [("relu", None), ("topk", 4), ("batchtopk", 4)])
def test_round_trip(tmp_path, activation, k):
    sae = random_sae(activation=activation, k=k, groups=[8, 32, 64], input_scale=2.5)
    sae.meta = _meta()
    save_checkpoint(sae, tmp_path / "ck", train_summary={"steps": 10, "holdout": {"fvu": 0.2}})
    back = load_checkpoint(tmp_path / "ck")
    for name in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold"):
        assert torch.equal(getattr(back, name), getattr(sae, name)), name
    assert back.arch == sae.arch
    assert back.meta.model == "my/model" and back.meta.layer == 3 and back.meta.ctx == 64
    assert back.meta.tokenizer_hash == "ab" * 32 and back.meta.format == "tokrex"
    assert back.meta.extra["training"]["steps"] == 10
    x = torch.randn(20, 16)
    assert torch.equal(back.encode(x), sae.encode(x))


def test_cfg_json_describes_the_sae(tmp_path):
    sae = random_sae(activation="batchtopk", k=4, groups=[16, 64], input_scale=1.5)
    save_checkpoint(sae, tmp_path / "ck", meta=_meta())
    cfg = json.loads((tmp_path / "ck" / "cfg.json").read_text())
    assert cfg["format"] == "tokrex-sae" and cfg["version"] == 1
    assert (cfg["architecture"], cfg["d_in"], cfg["n_latents"], cfg["k"]) == ("batchtopk", 16, 64, 4)
    assert cfg["groups"] == [16, 64] and cfg["input_scale"] == 1.5
    assert cfg["threshold"]["kind"] == "per_latent"
    assert cfg["model"] == {"name": "my/model", "config_hash": "c0ffee"}
    assert (cfg["layer"], cfg["hook"], cfg["ctx"]) == (3, "resid_post", 64)
    assert cfg["tokenizer_hash"] == "ab" * 32 and cfg["objective"] == "matryoshka-groups"
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["cfg.json", "sae.safetensors"]


def test_old_signature_and_load_sae(tmp_path):
    from tokrex.sae.load import load_sae

    sae = random_sae()
    save_checkpoint(sae, _meta(), tmp_path / "ck")
    loaded = load_sae(tmp_path / "ck", device="cpu")
    assert loaded.meta.format == "tokrex" and torch.equal(loaded.W_dec, sae.W_dec)


def test_resave_keeps_other_files_and_train_state(tmp_path):
    sae = random_sae()
    out = tmp_path / "ck"
    save_checkpoint(sae, out, meta=_meta(), train_state=({"usage": torch.arange(4.0)}, {"step": 7}))
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    tensors, info = load_train_state(out)
    assert info["step"] == 7 and torch.equal(tensors["usage"], torch.arange(4.0))
    save_checkpoint(sae, out, meta=_meta())
    assert (out / "metrics.jsonl").read_text() == '{"step": 1}\n'
    assert load_train_state(out) is None


def test_refuses_to_overwrite_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SaeError, match="not a tokrex checkpoint"):
        save_checkpoint(random_sae(), tmp_path, meta=_meta())
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_truncated_weights_are_one_clear_error(tmp_path):
    save_checkpoint(random_sae(), tmp_path / "ck", meta=_meta())
    f = tmp_path / "ck" / "sae.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(SaeError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "ck")


def test_wrong_shapes_and_versions(tmp_path):
    save_checkpoint(random_sae(), tmp_path / "ck", meta=_meta())
    cfg_path = tmp_path / "ck" / "cfg.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**cfg, "n_latents": 65, "groups": [65]}))
    with pytest.raises(SaeError, match="shape"):
        load_checkpoint(tmp_path / "ck")
    cfg_path.write_text(json.dumps({**cfg, "version": 99}))
    with pytest.raises(SaeError, match="version"):
        load_checkpoint(tmp_path / "ck")


def test_damaged_train_state_is_one_clear_error(tmp_path):
    out = tmp_path / "ck"
    save_checkpoint(random_sae(), out, meta=_meta(), train_state=({"usage": torch.arange(4.0)}, {"step": 7}))
    f = out / "train_state.safetensors"
    f.write_bytes(f.read_bytes()[:20])
    with pytest.raises(SaeError, match=r"^The training state in .* is missing or damaged, so the run cannot resume"):
        load_train_state(out)
    assert load_checkpoint(out).n_latents == 64  # the SAE itself still loads
