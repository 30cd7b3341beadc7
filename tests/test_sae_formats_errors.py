"""Loading fails with one clear SaeError sentence, and never runs code stored in a checkpoint."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from sae_format_fixtures import (
    N,
    dl_config,
    dl_state,
    saelens_v6_cfg,
    saelens_weights,
    sparsify_cfg,
    sparsify_weights,
    write_dl,
    write_saelens,
    write_sparsify_run,
)
from tokrex.errors import SaeError
from tokrex.sae import load_sae


def one_sentence(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message


def test_missing_path(tmp_path):
    with pytest.raises(SaeError, match="does not exist") as err:
        load_sae(tmp_path / "nope")
    one_sentence(err.value.message)


def test_unknown_folder_lists_what_was_looked_for(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(SaeError) as err:
        load_sae(tmp_path)
    msg = err.value.message
    for expected in ("not an SAE in a known format", "weights.bin", "sae_weights.safetensors", "ae.pt", "tokrex-sae"):
        assert expected in msg
    one_sentence(msg)


def test_empty_folder(tmp_path):
    with pytest.raises(SaeError, match="empty folder"):
        load_sae(tmp_path)


def test_several_saes_in_one_folder(tmp_path):
    write_sparsify_run(tmp_path / "run", {"layers.0": sparsify_weights(1), "layers.1": sparsify_weights(2)})
    with pytest.raises(SaeError, match=r"holds 2 SAEs \(layers.0, layers.1\)"):
        load_sae(tmp_path / "run")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_safetensors(tmp_path, damage):
    folder = write_saelens(tmp_path / "s", saelens_v6_cfg("standard"), saelens_weights(3))
    path = folder / "sae_weights.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(SaeError) as err:
        load_sae(folder)
    msg = err.value.message
    assert str(path) in msg and "corrupt or truncated" in msg and "again" in msg
    one_sentence(msg)


def test_corrupt_sparsify_safetensors(tmp_path):
    run = write_sparsify_run(tmp_path / "run", {"layers.2": sparsify_weights(4)})
    path = run / "layers.2" / "sae.safetensors"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(SaeError, match="corrupt or truncated"):
        load_sae(run / "layers.2")


def test_missing_keys(tmp_path):
    sd = saelens_weights(5)
    del sd["b_enc"]
    folder = write_saelens(tmp_path / "s", saelens_v6_cfg("standard"), sd)
    with pytest.raises(SaeError, match="lacks b_enc"):
        load_sae(folder)
    folder = write_saelens(tmp_path / "j", saelens_v6_cfg("jumprelu"), saelens_weights(5))
    with pytest.raises(SaeError, match="lacks threshold"):
        load_sae(folder)


def test_inconsistent_shapes(tmp_path):
    sd = saelens_weights(6)
    sd["W_dec"] = sd["W_dec"][:, :-1].contiguous()
    with pytest.raises(SaeError, match=r"W_dec has shape \[32, 15\]"):
        load_sae(write_saelens(tmp_path / "s", saelens_v6_cfg("standard"), sd))
    with pytest.raises(SaeError, match="disagree"):
        load_sae(write_saelens(tmp_path / "t", saelens_v6_cfg("standard", d_sae=N * 2), saelens_weights(6)))
    with pytest.raises(SaeError, match="dict_size"):
        big = dl_config("AutoEncoder", dict_size=64)
        load_sae(write_dl(tmp_path / "d", "AutoEncoder", dl_state("AutoEncoder", 7), big))
    with pytest.raises(SaeError, match="latents but cfg.json implies"):
        load_sae(write_sparsify_run(tmp_path / "r", {"layers.0": sparsify_weights(8)}, cfg=sparsify_cfg(num_latents=8)))


def test_unsupported_architectures(tmp_path):
    with pytest.raises(SaeError, match="'gated' cannot be expressed"):
        load_sae(write_saelens(tmp_path / "g", saelens_v6_cfg("gated"), saelens_weights(9)))
    with pytest.raises(SaeError, match="constant_norm_rescale"):
        cfg = saelens_v6_cfg("standard", normalize_activations="constant_norm_rescale")
        load_sae(write_saelens(tmp_path / "n", cfg, saelens_weights(9)))
    with pytest.raises(SaeError, match="groupmax"):
        groupmax = sparsify_cfg(activation="groupmax")
        load_sae(write_sparsify_run(tmp_path / "r", {"layers.0": sparsify_weights(9)}, groupmax))
    with pytest.raises(SaeError, match="transcoder"):
        load_sae(write_sparsify_run(tmp_path / "t", {"layers.0": sparsify_weights(9)}, sparsify_cfg(transcode=True)))
    with pytest.raises(SaeError, match="GatedAutoEncoder"):
        load_sae(write_dl(tmp_path / "d", "GatedAutoEncoder", {"x": torch.zeros(1)}, dl_config("GatedAutoEncoder")))


class _Custom:
    """A pickled class: loading it needs code, so weights_only refuses it."""

    def __init__(self):
        self.w = torch.zeros(2)


def test_pickled_objects_are_refused(tmp_path):
    write_dl(tmp_path / "d", "AutoEncoder", {"model": _Custom()})
    with pytest.raises(SaeError) as err:
        load_sae(tmp_path / "d")
    assert "never runs code" in err.value.message
    one_sentence(err.value.message)


class _Exploit:
    """Unpickling this calls open(marker, 'w'): a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_checkpoint_code_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "d"
    folder.mkdir()
    with open(folder / "ae.pt", "wb") as f:
        pickle.dump({"encoder.weight": _Exploit(marker)}, f)
    (folder / "config.json").write_text(json.dumps(dl_config("AutoEncoder")))
    with pytest.raises(SaeError):
        load_sae(folder)
    assert not marker.exists()


def test_corrupt_torch_file(tmp_path):
    folder = write_dl(tmp_path / "d", "AutoEncoder", dl_state("AutoEncoder", 10))
    data = (folder / "ae.pt").read_bytes()
    (folder / "ae.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(SaeError, match="corrupt or truncated"):
        load_sae(folder)


def test_bad_json_config(tmp_path):
    folder = write_saelens(tmp_path / "s", saelens_v6_cfg("standard"), saelens_weights(11))
    (folder / "cfg.json").write_text("{broken")
    with pytest.raises(SaeError, match="not valid JSON"):
        load_sae(folder)


def test_nan_weights_refused(tmp_path):
    sd = saelens_weights(12)
    sd["W_enc"][0, 0] = float("nan")
    with pytest.raises(SaeError, match="NaN"):
        load_sae(write_saelens(tmp_path / "s", saelens_v6_cfg("standard"), sd))


def test_bad_device(tmp_path):
    folder = write_dl(tmp_path / "d", "AutoEncoder", dl_state("AutoEncoder", 14))
    with pytest.raises(SaeError, match="Cannot put the SAE on device 'no-such-device'"):
        load_sae(folder, device="no-such-device")


def test_k_disagreement(tmp_path):
    sd = dl_state("AutoEncoderTopK", 13, k=4)
    with pytest.raises(SaeError, match="must agree"):
        load_sae(write_dl(tmp_path / "d", "AutoEncoderTopK", sd, dl_config("AutoEncoderTopK", k=8)))
