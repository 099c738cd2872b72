"""cnndemo.ui.common and the context: the one path from an upload to a heatmap over it, the pieces the tabs share,
and tabs that find Explore's inputs whatever order they are built in."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from cnndemo import images  # noqa: E402
from cnndemo.explain import picture as picture_module  # noqa: E402
from cnndemo.explain.picture import photo_for  # noqa: E402
from cnndemo.ui import common, explore  # noqa: E402
from cnndemo.ui.context import AppContext  # noqa: E402

MODEL = "lenet5_mnist"  # small and trained


@pytest.fixture(scope="module")
def ctx() -> AppContext:
    return AppContext()


@pytest.fixture
def upload(tmp_path) -> str:
    """A 90 x 60 photo-like upload: a smooth colour ramp."""
    x = np.linspace(0, 255, 90, dtype=np.float32)
    pixels = np.stack([np.tile(x, (60, 1)), np.tile(x[::-1], (60, 1)), np.full((60, 90), 128.0)], axis=2)
    path = tmp_path / "upload.png"
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return str(path)


def test_the_heatmap_over_an_upload_is_drawn_by_the_one_overlay(ctx, upload, monkeypatch):
    blends = []
    real = picture_module.overlay
    monkeypatch.setattr(picture_module, "overlay", lambda *args: blends.append(args[2:]) or real(*args))
    picture = common.decoded(upload)
    view = ctx.cache.get(MODEL).attribute(picture, common.explain_settings("gradcam"))
    heat, before = common.heat_files(ctx, picture, MODEL, [view], opacity=0.7, before=True)
    assert blends == [(0.7, view.colormap)]  # the one blend, once, at the asked opacity
    photo = photo_for(picture, ctx.zoo.info(MODEL).weights)
    for path, want in ((heat, photo.heat(view.heatmap, 0.7)), (before, photo.outside_dimmed())):
        got = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
        assert Path(path).suffix == ".jpg" and got.shape == want.shape
        assert np.abs(got - want).mean() < 2  # a photo, lossy (JPEG at quality 95) but faithful


def test_an_attribute_request_decodes_the_upload_once(ctx, upload, monkeypatch):
    decodes = []
    real = images._decode
    monkeypatch.setattr(images, "_decode", lambda data: decodes.append(len(data)) or real(data))
    (heat, before), bar, caption = explore.attribute(ctx, upload, MODEL, "gradcam", "", "", 0.5, False)
    assert len(decodes) == 1 and "for **" in caption
    assert Path(bar).suffix == ".png"  # a chart with numbers: lossless


def test_the_class_list_puts_the_top_5_first():
    choices = common.class_choices(("a", "b", "c", "d"), [("c", 0.6), ("a", 0.3)])
    assert [v for _, v in choices] == ["", "c", "a", "b", "d"]
    assert choices[1][0] == "c (60.0%)"


def test_a_weights_download_moves_the_progress_bar_with_its_size():
    from cnndemo.models import DownloadProgress
    heard = []
    bar = common.loading_progress(lambda fraction, desc: heard.append((fraction, desc)))
    bar(DownloadProgress("resnet50's ImageNet weights", 50_000_000, 100_000_000))
    assert heard == [(0.5, "downloading resnet50's ImageNet weights: 50.0 of 100.0 MB")]


def test_tabs_follow_explores_inputs_whatever_order_they_are_built_in():
    from cnndemo.ui import architecture, compare, trust
    ctx = AppContext()
    with gr.Blocks() as demo:
        for tab in (architecture, trust, compare, explore):  # Explore last: its inputs are the context's
            tab.build(ctx)
    ids = {c["id"]: c for c in demo.config["components"]}
    image, model = ctx.inputs.image._id, ctx.inputs.model._id
    assert ids[image]["props"]["elem_id"] == "explore-image" and ids[model]["props"]["elem_id"] == "explore-model"
    followers = [d for d in demo.config["dependencies"] if image in d["inputs"] or model in d["inputs"]]
    assert len(followers) >= 6  # Trust, Compare and Architecture read them, and Explore itself
