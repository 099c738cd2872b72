"""Tests of cnndemo.checkpoints: round trip, refusals, and that no pickle is ever run."""
from __future__ import annotations

import json
import os
import pickle
import zipfile
from datetime import datetime

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from cnndemo import checkpoints
from cnndemo.checkpoints import load, load_into, save
from cnndemo.errors import BadInputError

META = {"arch": "tiny", "classes": ["a", "b", "c"], "mean": [0.5], "std": [0.25], "input_size": [1, 8, 8],
        "dataset": "mnist", "recipe": {"epochs": 2, "lr": 0.01}, "metrics": {"val_acc": 0.75}}


class Tiny(nn.Module):
    """A small CNN with a conv, batch norm (int buffer too) and a linear head."""

    def __init__(self, n_out: int = 3, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bn(self.conv(x)).mean(dim=(2, 3)))


def _trained(width: int = 4) -> Tiny:
    torch.manual_seed(0)
    model = Tiny(width=width)
    model.train()(torch.randn(4, 1, 8, 8))  # moves the batch-norm running stats away from their defaults
    return model.eval()


def test_round_trip(tmp_path):
    model = _trained()
    path = save(model, tmp_path / "run1", {**META, "parameters": 123, "training_time_s": 1.5})
    assert path == tmp_path / "run1.safetensors" and path.is_file()
    assert (tmp_path / "run1.json").is_file()
    state, meta = load(tmp_path / "run1")
    ref = model.state_dict()
    assert state.keys() == ref.keys()
    assert all(torch.equal(state[k], ref[k]) for k in ref)
    for key, value in META.items():
        assert meta[key] == value
    assert meta["parameters"] == 123 and meta["training_time_s"] == 1.5
    assert datetime.fromisoformat(meta["created"]).utcoffset().total_seconds() == 0


def test_load_by_any_of_the_three_names(tmp_path):
    save(_trained(), tmp_path / "m", META)
    metas = [load(p)[1] for p in (tmp_path / "m", tmp_path / "m.safetensors", tmp_path / "m.json", str(tmp_path / "m"))]
    assert all(m == metas[0] for m in metas)


def test_given_created_kept_and_tuples_become_lists(tmp_path):
    save(_trained(), tmp_path / "m", {**META, "created": "2024-01-01T00:00:00+00:00", "mean": (0.5,),
                                      "extra": torch.tensor([1, 2])})
    meta = load(tmp_path / "m")[1]
    assert meta["created"] == "2024-01-01T00:00:00+00:00" and meta["mean"] == [0.5] and meta["extra"] == [1, 2]


def test_load_into_restores_outputs(tmp_path):
    model = _trained()
    save(model, tmp_path / "m", META)
    fresh = Tiny().eval()
    x = torch.randn(2, 1, 8, 8)
    assert not torch.allclose(fresh(x), model(x))
    meta = load_into(fresh, tmp_path / "m.safetensors", arch="tiny")
    assert meta["arch"] == "tiny"
    assert torch.equal(fresh(x), model(x))


def test_fp16_save_halves_size_and_loads_into_float32(tmp_path):
    model = _trained(width=256)
    full = save(model, tmp_path / "full", META)
    half = save(model, tmp_path / "half", META, dtype=torch.float16)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    state, meta = load(half)
    assert state["conv.weight"].dtype == torch.float16 and state["bn.num_batches_tracked"].dtype == torch.int64
    assert meta["dtype"] == "float16"
    fresh = Tiny(width=256)
    load_into(fresh, half)
    assert fresh.conv.weight.dtype == torch.float32
    assert torch.allclose(fresh.conv.weight, model.conv.weight, atol=1e-3)


def test_tied_and_non_contiguous_tensors_saved(tmp_path):
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 4, bias=False)
            self.b = nn.Linear(4, 4, bias=False)
            self.b.weight = self.a.weight
            self.register_buffer("t", torch.arange(12.0).view(3, 4).t())

    model = Tied()
    save(model, tmp_path / "tied", {"arch": "tied"})
    state, _ = load(tmp_path / "tied")
    assert torch.equal(state["a.weight"], state["b.weight"]) and torch.equal(state["t"], model.t)
    load_into(Tied(), tmp_path / "tied")


def test_arch_mismatch_refused(tmp_path):
    save(_trained(), tmp_path / "m", META)
    with pytest.raises(BadInputError, match="'tiny'.*'resnet18'"):
        load_into(Tiny(), tmp_path / "m", arch="resnet18")


def test_shape_mismatch_refused_and_model_untouched(tmp_path):
    save(_trained(), tmp_path / "m", META)
    other = Tiny(n_out=5)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(BadInputError) as e:
        load_into(other, tmp_path / "m", arch="tiny")
    assert "fc.weight" in str(e.value) and "(3, 4)" in str(e.value) and "(5, 4)" in str(e.value)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())


def test_missing_and_unexpected_keys_listed(tmp_path):
    save(_trained(), tmp_path / "m", META)
    model = nn.Sequential(nn.Conv2d(1, 4, 3))
    with pytest.raises(BadInputError) as e:
        load_into(model, tmp_path / "m")
    msg = str(e.value)
    assert "missing: 0.weight, 0.bias;" in msg
    assert "unexpected: bn.bias, bn.num_batches_tracked, bn.running_mean (+6 more)" in msg


class _Evil:
    """Unpickling this writes a marker file: proof that code ran."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_pickle(marker) -> bytes:
    evil = _Evil()
    evil.marker = str(marker)
    return pickle.dumps({"state": evil})


def test_pickle_as_pt_refused_by_name_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    for suffix in (".pt", ".pth", ".pkl", ".ckpt", ".bin"):
        path = tmp_path / f"model{suffix}"
        path.write_bytes(_evil_pickle(marker))
        with pytest.raises(BadInputError, match="can run any code"):
            load(path)
        with pytest.raises(BadInputError):
            load_into(nn.Linear(1, 1), path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pickle", "zip"])
def test_pickle_or_zip_renamed_safetensors_refused(tmp_path, kind):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    if kind == "pickle":
        path.write_bytes(_evil_pickle(marker))
    else:
        with zipfile.ZipFile(path, "w") as z:  # the layout torch.save writes
            z.writestr("model/data.pkl", _evil_pickle(marker))
    (tmp_path / "model.json").write_text(json.dumps(META))
    with pytest.raises(BadInputError, match=f"really a {kind}"):
        load(path)
    assert not marker.exists()


def test_sniff_refuses_garbage_and_bad_headers(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps(META))
    bad = [b"", b"\x05\x00\x00", (2**40).to_bytes(8, "little") + b"{", (1000).to_bytes(8, "little") + b"{}"]
    for data in bad:
        (tmp_path / "m.safetensors").write_bytes(data)
        with pytest.raises(BadInputError, match="not a valid safetensors"):
            load(tmp_path / "m")


def test_damaged_safetensors_body_refused(tmp_path):
    save(_trained(), tmp_path / "m", META)
    path = tmp_path / "m.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(BadInputError, match="damaged"):
        load(path)


def test_missing_or_broken_sidecar_refused(tmp_path):
    save_file({"w": torch.zeros(2)}, str(tmp_path / "m.safetensors"))
    with pytest.raises(BadInputError, match="missing"):
        load(tmp_path / "m")
    for text, words in (("{not json", "not valid JSON"), ("[1, 2]", "no 'arch'"), ("\xff", "not valid JSON")):
        (tmp_path / "m.json").write_bytes(text.encode("latin-1"))
        with pytest.raises(BadInputError, match=words):
            load(tmp_path / "m")


def test_missing_weights_refused(tmp_path):
    with pytest.raises(BadInputError, match="no checkpoint"):
        load(tmp_path / "nothing")


def test_save_needs_arch(tmp_path):
    with pytest.raises(ValueError, match="arch"):
        save(_trained(), tmp_path / "m", {"classes": []})


def _fail_second_replace(monkeypatch):
    """Make the sidecar's os.replace fail, after the weights were written."""
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        real(src, dst)
    monkeypatch.setattr(checkpoints.os, "replace", flaky)


def test_atomic_failed_write_keeps_old_files(tmp_path, monkeypatch):
    old = _trained()
    save(old, tmp_path / "m", META)
    old_json = (tmp_path / "m.json").read_bytes()
    new = Tiny(width=4)

    def broken_save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(checkpoints, "save_file", broken_save_file)
    with pytest.raises(OSError):
        save(new, tmp_path / "m", {**META, "metrics": {"val_acc": 0.1}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]
    assert (tmp_path / "m.json").read_bytes() == old_json
    state, _ = load(tmp_path / "m")
    assert all(torch.equal(state[k], v) for k, v in old.state_dict().items())


def test_atomic_failed_replace_leaves_no_temp_or_partial_file(tmp_path, monkeypatch):
    _fail_second_replace(monkeypatch)
    with pytest.raises(OSError):
        save(_trained(), tmp_path / "m", META)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # weights first; no sidecar, no temp files
    with pytest.raises(BadInputError, match="missing"):
        load(tmp_path / "m")


def test_checkpoints_module_never_calls_torch_load(monkeypatch, tmp_path):
    def forbidden(*a, **k):
        raise AssertionError("torch.load called")
    monkeypatch.setattr(torch, "load", forbidden)
    save(_trained(), tmp_path / "m", META)
    load_into(Tiny(), tmp_path / "m")
    with open(checkpoints.__file__, encoding="utf-8") as f:
        assert "torch.load" not in f.read()


def test_fit_state_names_what_does_not_fit_and_casts_to_the_model():
    source = _trained()
    half = {k: v.half() if v.is_floating_point() else v for k, v in source.state_dict().items()}
    target = Tiny()
    checkpoints.fit_state(target, half, "tiny's weights")
    assert all(v.dtype == source.state_dict()[k].dtype for k, v in target.state_dict().items())
    assert torch.equal(target.fc.weight, source.fc.weight.half().float())
    with pytest.raises(BadInputError, match="^tiny's weights does not fit Tiny: shape differs: fc.weight"):
        checkpoints.fit_state(Tiny(n_out=5), half, "tiny's weights")
