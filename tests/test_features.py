"""Feature cache: a second probe run over a grown class set runs the frozen model over the new pictures only."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn

from cnndemo.data import BatchSpec, ClassSet, to_input
from cnndemo.models import has_weights
from cnndemo.train import CLASS_SET_RECIPE, Done, FeatureCache, Start, build_model, train
from cnndemo.train.features import model_fingerprint, picture_digests

SPEC = BatchSpec((3, 16, 16), (0.5,) * 3, (0.5,) * 3)


def tinted(seed: int, colour: int) -> np.ndarray:
    """A noisy picture with one dominant colour channel: two classes a frozen ImageNet model tells apart."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 90, (48, 48, 3))
    x[..., colour] += 150
    return x.astype(np.uint8)


def grown_set(n: int) -> ClassSet:
    cs = ClassSet(["red", "blue"])
    cs.add("red", [tinted(i, 0) for i in range(n)])
    cs.add("blue", [tinted(100 + i, 2) for i in range(n)])
    return cs


class Counted(nn.Module):
    """A frozen-feature model (pooling + flatten + head), counting the pictures its forward sees."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 2)
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        return self.head(self.features(x))


def test_cache_computes_only_new_pictures_and_gives_the_same_features():
    model, cache = Counted().eval(), FeatureCache()
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    first = cache.features(model, model.head, images[:4], SPEC, device=torch.device("cpu"))
    assert model.seen == 4 and cache.forwards == 4 and len(cache) == 4
    both = cache.features(model, model.head, images, SPEC, device=torch.device("cpu"))
    assert model.seen == 6 and cache.forwards == 6  # two new pictures, two forwards
    assert torch.equal(both[:4], first)
    with torch.no_grad():
        assert torch.allclose(both, model.features(to_input(images, SPEC)))


def test_another_model_size_or_backbone_never_reuses_features():
    model, cache = Counted().eval(), FeatureCache()
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    cache.features(model, model.head, images, SPEC, device=torch.device("cpu"))
    model.head.weight.data += 1  # a new head: the features stay valid
    cache.features(model, model.head, images, SPEC, device=torch.device("cpu"))
    assert cache.forwards == 3
    cache.features(model, model.head, images, replace(SPEC, input_size=(3, 20, 20)), device=torch.device("cpu"))
    assert cache.forwards == 6
    model.features[0].weight.data += 1  # other frozen weights: other features
    cache.features(model, model.head, images, SPEC, device=torch.device("cpu"))
    assert cache.forwards == 9


def test_a_head_that_is_not_the_last_step_gives_no_features():
    class Doubled(Counted):
        def forward(self, x):
            return 2 * super().forward(x)
    model = Doubled().eval()
    assert FeatureCache().features(model, model.head, torch.zeros(2, 3, 16, 16, dtype=torch.uint8), SPEC,
                                   device=torch.device("cpu")) is None


def test_the_oldest_entries_go_first_beyond_the_limit():
    model, cache = Counted().eval(), FeatureCache(max_entries=3)
    images = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    cache.features(model, model.head, images, SPEC, device=torch.device("cpu"))
    assert len(cache) == 3
    cache.features(model, model.head, images[4:], SPEC, device=torch.device("cpu"))
    assert cache.forwards == 5  # the newest is still there


def test_digests_and_fingerprints_follow_content():
    a = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    b = a.clone()
    b[1, 0, 0, 0] ^= 1
    da, db = picture_digests(a), picture_digests(b)
    assert da[0] == db[0] and da[1] != db[1] and picture_digests(a.clone()) == da
    m = Counted()
    before = model_fingerprint(m, m.head)
    m.head.bias.data += 1
    assert model_fingerprint(m, m.head) == before


@pytest.mark.skipif(not has_weights("efficientnet_lite0"), reason="EfficientNet-Lite0 package weights not installed")
def test_a_second_class_set_run_makes_no_forward_over_old_pictures(tmp_path):
    """The default class-builder recipe, twice over a growing set, counting the frozen model's forwards."""
    cfg = replace(CLASS_SET_RECIPE, image_size=64, epochs=15, out=str(tmp_path / "run"), log_every=100)
    cache, seen = FeatureCache(), []

    def counted_model():
        model = build_model(cfg, 2)
        model.register_forward_pre_hook(lambda m, args: seen.append(len(args[0])))
        return model
    cs = grown_set(5)
    first = list(train(cfg, cs.splits(), model=counted_model(), features=cache))
    assert sum(seen) == 10 and first[-1].reason == "completed"
    assert first[-1].metrics["test_acc"] == 1.0  # red against blue, on frozen ImageNet features
    cs.add("red", [tinted(50, 0), tinted(51, 0)])
    cs.add("blue", [tinted(150, 2)])
    seen.clear()
    second = list(train(cfg, cs.splits(), model=counted_model(), features=cache))
    assert sum(seen) == 3 and cache.forwards == 13  # the three new pictures only
    start = next(m for m in second if isinstance(m, Start))
    assert start.n_train + start.n_test == 13 and start.mode == "probe"


needs_lite0 = pytest.mark.skipif(not has_weights("efficientnet_lite0"),
                                 reason="EfficientNet-Lite0 package weights not installed")


@pytest.fixture(scope="module")
def head_run(tmp_path_factory):
    """A class-builder run (the last epoch kept, so the trained model is the checkpoint's) and its model."""
    cfg = replace(CLASS_SET_RECIPE, image_size=64, epochs=5, keep="last", log_every=100,
                  out=str(tmp_path_factory.mktemp("run") / "colours"))
    model = build_model(cfg, 2)
    done = list(train(cfg, grown_set(4).splits(), model=model))[-1]
    assert isinstance(done, Done) and done.reason == "completed"
    return done.checkpoint, model.eval()


@needs_lite0
def test_a_frozen_feature_run_is_stored_as_its_head_and_a_reference(head_run):
    import json
    from pathlib import Path

    from cnndemo import checkpoints
    path, model = head_run
    state, meta = checkpoints.load(path)
    assert sorted(state) == ["_fc.bias", "_fc.weight"] and Path(path).stat().st_size < 20_000  # not 13.7 MB
    assert meta["frozen"]["weights"] == "package" and meta["frozen"]["heads"] == ["_fc"]
    assert meta["frozen"]["digest"] == checkpoints.frozen_digest(model.state_dict(), ["_fc"])
    assert json.loads(Path(path).with_suffix(".json").read_text())["frozen"] == meta["frozen"]


@needs_lite0
def test_a_head_run_loads_whole_with_one_call(head_run):
    from cnndemo.models import get_model, load_checkpoint
    path, model = head_run
    loaded, meta = load_checkpoint(path)
    want = model.state_dict()
    assert set(loaded.state_dict()) == set(want)
    assert all(torch.equal(t, want[k]) for k, t in loaded.state_dict().items())
    x = to_input(torch.as_tensor(np.stack([tinted(7, 0), tinted(8, 2)])).permute(0, 3, 1, 2),
                 BatchSpec((3, 64, 64), tuple(meta["mean"]), tuple(meta["std"])))
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    again = get_model("efficientnet_lite0", weights=path, num_classes=2)  # the weights= route reads it too
    assert torch.equal(again.state_dict()["_fc.weight"], want["_fc.weight"])


@needs_lite0
@pytest.mark.slow  # torch.onnx traces EfficientNet-Lite0: several seconds
def test_a_head_run_exports_to_onnx_whole(head_run, tmp_path):
    import shutil
    from pathlib import Path

    from cnndemo.export import export_checkpoint
    ort = pytest.importorskip("onnxruntime")
    path, model = head_run
    for suffix in (".safetensors", ".json"):
        shutil.copy(Path(path).with_suffix(suffix), tmp_path / f"run{suffix}")
    onnx_file = export_checkpoint(tmp_path / "run.safetensors")
    assert onnx_file.stat().st_size > 10_000_000  # the frozen network's weights are inside
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        want = model(x).numpy()
    got = ort.InferenceSession(str(onnx_file)).run(["logits"], {"image": x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4)


@needs_lite0
def test_a_head_on_other_frozen_weights_is_refused(head_run, tmp_path):
    import json
    import shutil
    from pathlib import Path

    from cnndemo.errors import BadInputError
    from cnndemo.models import load_checkpoint
    path, _ = head_run
    shutil.copy(path, tmp_path / "run.safetensors")
    meta = json.loads(Path(path).with_suffix(".json").read_text())
    meta["frozen"]["digest"] = "0" * 32  # e.g. a newer package with other ImageNet weights
    (tmp_path / "run.json").write_text(json.dumps(meta))
    with pytest.raises(BadInputError, match="trained on other efficientnet_lite0 weights"):
        load_checkpoint(tmp_path / "run.safetensors")


def test_frozen_digest_ignores_the_heads_and_the_storage_precision():
    from cnndemo.checkpoints import frozen_digest
    state = {"body.weight": torch.randn(4, 3), "body.n": torch.tensor(5), "head.weight": torch.randn(2, 4)}
    digest = frozen_digest(state, ["head"])
    assert frozen_digest({**state, "head.weight": torch.zeros(2, 4)}, ["head"]) == digest
    assert frozen_digest({**state, "body.weight": state["body.weight"].half().float()}, ["head"]) != digest
    half = {**state, "body.weight": state["body.weight"].half()}
    assert frozen_digest(half, ["head"]) == frozen_digest({**half, "body.weight": half["body.weight"].float()},
                                                          ["head"])
    assert frozen_digest({**state, "body.n": torch.tensor(6)}, ["head"]) != digest
