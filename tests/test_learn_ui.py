"""The Learn tab served for real (with Explore beside it, as in the app): its four named endpoints through
gradio_client, checked against the model and independent hooks."""
from __future__ import annotations

import numpy as np
import pytest

gradio = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402

from cnndemo.explain import hooks_left  # noqa: E402
from cnndemo.ui import explore, learn as learn_tab  # noqa: E402
from cnndemo.ui.context import AppContext  # noqa: E402

from conftest import launch  # noqa: E402


@pytest.fixture(scope="module")
def learn_app():
    ctx = AppContext()
    with gradio.Blocks() as demo:
        explore.build(ctx)
        learn_tab.build(ctx)
        demo.queue()
    launch(demo)
    try:
        yield demo, ctx
    finally:
        demo.close()


@pytest.fixture(scope="module")
def lclient(learn_app):
    return Client(learn_app[0].local_url, verbose=False)


def test_the_four_endpoints_are_named(lclient):
    names = set(lclient.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/diagram", "/conv_step", "/block", "/receptive_field"} <= names


def test_diagram_returns_the_svg_and_every_block(lclient):
    svg, table = lclient.predict("resnet18_cifar", api_name="/diagram")
    assert "<svg" in svg and "residual block" not in svg.split("</text>")[0]  # top level: stages, not blocks
    for child in ("conv1", "bn1", "layer1", "layer4", "avgpool", "fc"):
        assert f'data-block="{child}"' in svg
    rows = {r[0]: r for r in table["data"]}
    assert rows["layer1.0"][3] == "residual block" and rows["fc"][5] == 5130  # parameters of Linear(512, 10)


def test_conv_step_equals_the_activation_the_model_computes(lclient, learn_app, cat):
    _, ctx = learn_app
    text, figure, numbers = lclient.predict(cat, "lenet5", "cn1", 4, 0, 27, api_name="/conv_step")
    explainer = ctx.cache.get("lenet5")
    x = explainer.record(cat["path"]).x
    real = float(explainer.model.cn1(x).detach()[0, 4, 0, 27])
    assert numbers["actual"] == pytest.approx(real, rel=1e-6)
    assert numbers["value"] == pytest.approx(real, rel=1e-4, abs=1e-6)
    total = 0.0
    for ch in numbers["channels"]:
        patch, kernel, products = (np.array(ch[k]) for k in ("patch", "kernel", "products"))
        assert np.allclose(patch * kernel, products) and ch["sum"] == pytest.approx(products.sum())
        total += ch["sum"]
    assert numbers["sum"] == pytest.approx(total + numbers["other_channels_sum"])
    assert numbers["value"] == pytest.approx(numbers["sum"] + numbers["bias"])
    assert [n["kind"] for n in numbers["next"]] == ["activation", "pooling"]
    assert "read by a hook" in text and figure is not None
    assert hooks_left(explainer.model) == 0


def test_block_returns_branches_with_shapes_and_maps(lclient, cat):
    text, gallery, table = lclient.predict(cat, "mnist_inception", "incept1", api_name="/block")
    assert "Inception module" in text and "16 + 24 + 24 + 24 = 88" in text
    captions = [g["caption"] for g in gallery]
    assert len(captions) == 5 and captions[-1] == "concatenation: 88x12x12"
    assert all(g["image"] for g in gallery)


def test_receptive_field_has_one_row_per_layer(lclient):
    table = lclient.predict("alexnet", api_name="/receptive_field")
    rows = {r[1]: dict(zip(table["headers"], r)) for r in table["data"]}
    assert rows["features.10"]["receptive_field"] == "163" and rows["features.12"]["receptive_field"] == "195"
    assert rows["features.0"]["formula"] == "out = (224 - 11 + 2*2)/4 + 1 = 55 (rounded down)"


def test_bad_requests_get_a_sentence_and_the_server_keeps_serving(lclient, cat):
    with pytest.raises(Exception, match="not a convolution"):
        lclient.predict(cat, "lenet5", "fc1", 0, 0, 0, api_name="/conv_step")
    with pytest.raises(Exception, match="output is 28x28"):
        lclient.predict(cat, "lenet5", "cn1", 0, 40, 0, api_name="/conv_step")
    with pytest.raises(Exception, match="(?i)upload"):
        lclient.predict(None, "lenet5", "cn1", 0, 0, 0, api_name="/conv_step")
    assert lclient.predict("lenet5", api_name="/receptive_field")["data"]


def test_playground_refusal_leaves_no_stale_formula_or_figure():
    text, fig = learn_tab.play(3, 3, 2, 0, 1)
    assert "out = (3 - 3 + 2*0)/2 + 1 = 1" in text and fig is not None
    text, fig = learn_tab.play(3, 7, 2, 0, 1)  # refused: the sentence once, no formula, the old chart cleared
    assert text.count("does not fit") == 1 and "out =" not in text and fig is None
