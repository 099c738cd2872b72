"""The What-it-learnt tab's handlers, called as Gradio calls them (the context bound first, a request with a session
hash), on small trained models: every number shown against the model, and every bad request as a sentence."""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from cnndemo import BadInputError  # noqa: E402
from cnndemo.data import ClassSet  # noqa: E402
from cnndemo.images import open_image  # noqa: E402
from cnndemo.insight import examples as ex  # noqa: E402
from cnndemo.insight import featurespace as fs  # noqa: E402
from cnndemo.insight.display import TILE, enlarged, example_tile  # noqa: E402
from cnndemo.insight.visualize import Objective, Visualization  # noqa: E402
from cnndemo.models import Readiness  # noqa: E402
from cnndemo.serving import ServingLimits  # noqa: E402
from cnndemo.ui import insight  # noqa: E402
from cnndemo.ui.context import AppContext  # noqa: E402
from conftest import channel_responses  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")
DIGITS, CIFAR = "lenet5_mnist", "resnet18_cifar"  # small and trained: every view answers in seconds


class NoBar:
    """A gr.Progress stand-in that records what the bar was told."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, *args, **kwargs) -> None:
        self.calls.append((args, kwargs))


def request(session: str) -> SimpleNamespace:
    """What Gradio hands an event: the browser session's hash."""
    return SimpleNamespace(session_hash=session)


@pytest.fixture(scope="module")
def ctx() -> AppContext:
    return AppContext()


@pytest.fixture(scope="module")
def cat_file(tmp_path_factory) -> str:
    from cnndemo.examples import example_files
    return str(example_files(tmp_path_factory.mktemp("ex"))[0])


def run(ctx: AppContext, handler, *args):
    """A handler as its event calls it (the context bound first)."""
    return ctx.bind(handler)(*args)


def stream(ctx: AppContext, *args, session: str = "s") -> list[tuple]:
    """Every output /visualize_channels streams for one request."""
    return list(ctx.bind(insight.visualize_channels)(*args, request=request(session), progress=NoBar()))


# ---------- what is offered ----------
def test_only_models_with_trained_weights_are_offered(ctx):
    offered = {name for _, name in insight.trained_choices(ctx)}
    untrained = {e.name for e in ctx.zoo.grouped() if e.readiness is Readiness.UNTRAINED}
    assert offered and untrained and not offered & untrained
    assert {DIGITS, CIFAR} <= offered and offered | untrained == set(ctx.zoo.names())


def test_an_untrained_model_gets_a_sentence(ctx, cat_file):
    name = next(e.name for e in ctx.zoo.grouped() if e.readiness is Readiness.UNTRAINED)
    with pytest.raises(gr.Error, match="has no trained weights here"):
        run(ctx, insight.fool, cat_file, name, "fgsm", 2, "", NoBar())


def test_the_layer_picker_lists_the_layers_with_channel_maps(ctx):
    info = ctx.zoo.info(CIFAR)
    choices = insight.channel_layers(info)
    names = [n for _, n in choices]
    assert names[:4] == list(info.feature_layers) and len(names) == len(set(names)) > 20
    assert "fc" not in names and insight.middle_layer(info) == "layer3"
    assert dict((n, label) for label, n in choices)["layer3"] == "layer3: 256 channels of 8x8 (a main stage)"
    assert [n for _, n in insight.channel_layers(ctx.zoo.info(DIGITS))] == ["cn1", "cn2"]


def test_only_data_sets_that_are_here_are_offered(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNDEMO_DATA", str(tmp_path))  # an empty data folder: only what is drawn by code
    assert [d for _, d in insight.dataset_choices()] == ["shapes", insight.MY_CLASSES]
    with pytest.raises(BadInputError, match="not in this server's data folder"):
        insight.picture_source(None, "mnist", None, None)


def test_the_picker_follows_explore_to_trained_models_only(ctx):
    assert insight.follow_trained(ctx, CIFAR)["value"] == CIFAR
    untrained = next(e.name for e in ctx.zoo.grouped() if e.readiness is Readiness.UNTRAINED)
    assert "value" not in insight.follow_trained(ctx, untrained)  # keeps its own model
    layer, target, dataset, knows = insight.insight_model(ctx, CIFAR)
    assert layer["value"] == "layer3" and target["choices"][0] == ("(none: any wrong class)", "")
    assert dataset["value"] == "cifar10" and CIFAR in knows


@pytest.mark.parametrize("text, objective, units", [
    ("0-7", "channel", tuple(range(8))), ("3, 17,42", "channel", (3, 17, 42)), ("1-2; 9", "channel", (1, 2, 9)),
    ("Trouser, bag, 0", "class", (1, 8, 0)),
])
def test_units_are_read_from_text(ctx, text, objective, units):
    classes = tuple(ctx.zoo.info("lenet5_fashion").classes)
    assert insight.parse_units(text, classes, Objective(objective)) == units


# ---------- 1. what a channel looks for ----------
def test_visualise_streams_pictures_then_numbers_the_model_gives(ctx, trained):
    outputs = stream(ctx, DIGITS, "cn2", "0-3", 16, "channel")
    previews, (status, tiles, caption, viz) = outputs[:-1], outputs[-1]
    assert len(previews) >= 4 and all(p[0].startswith("Step") and len(p[1]) == 4 for p in previews)
    assert status == "Done: 4 pictures." and isinstance(viz, Visualization) and viz.units == (0, 1, 2, 3)
    model, info = trained(DIGITS)
    measured = channel_responses(model, info, "cn2", viz.units, viz.pictures)
    for i, (path, label) in enumerate(tiles):
        own, other = (float(v) for v in re.findall(r"-?[\d.]+(?:e-?\d+)?", label.split(": ", 1)[1]))
        assert own == pytest.approx(measured[i, i], rel=6e-3, abs=1e-3)  # shown to 3 significant digits
        assert other == pytest.approx(np.delete(measured[i], i).max(), rel=6e-3, abs=1e-3)
        with Image.open(path) as shown:
            assert min(shown.size) >= TILE
    assert "mean activation" in caption and re.search(r"\*\*\d of 4\*\* respond most", caption)


def test_class_pictures_by_name(ctx):
    *_, (status, tiles, caption, viz) = stream(ctx, "lenet5_fashion", "", "Trouser, Bag", 16, "class")
    assert [label.split(":")[0] for _, label in tiles] == ["Trouser", "Bag"]
    assert viz.objective is Objective.CLASS and "score (logit) before the softmax" in caption


@pytest.mark.parametrize("layer, channels, steps, message", [
    ("fc3", "0-3", 16, "not channel maps"),  # a layer with no channels
    ("cn2", "0-3, 99", 16, "channel 99 is out of range"),
    ("cn2", "edges", 16, "'edges' is not a channel number"),
    ("cn2", "0-40", 16, "at most 16"),
    ("cn2", "0-3", 3, "steps must be a whole number from 8"),
    ("cn2", "0-3", 16.5, "steps must be a whole number"),
])
def test_bad_visualise_requests_get_a_sentence(ctx, layer, channels, steps, message):
    (only,) = stream(ctx, DIGITS, layer, channels, steps, "channel")
    assert only[0].startswith("**Stopped:**") and message in only[0]
    assert all(isinstance(o, dict) and o.get("__type__") == "update" for o in only[1:])  # the rest kept as it was


def test_stop_cancels_the_run_with_a_sentence(ctx):
    session = "stopper"
    outputs = []
    for out in ctx.bind(insight.visualize_channels)(DIGITS, "cn1", "0-5", 512, "channel", request=request(session),
                                                    progress=NoBar()):
        outputs.append(out)
        if len(outputs) == 1:
            assert insight.stop_visualizing(ctx, request(session)) == "Stopping after the current step..."
    assert "Cancelled after" in outputs[-1][0] and "nothing was kept" in outputs[-1][0]
    assert session not in insight.RUNNING and insight.stop_visualizing(ctx, request(session)) == "Nothing is running."


def test_the_time_limit_stops_the_run_with_a_sentence():
    hurried = AppContext(limits=ServingLimits(time_limit_s=0.3))
    outputs = stream(hurried, DIGITS, "cn1", "0-5", 504, "channel")
    assert "Stopped at the server's 0 s limit" in outputs[-1][0] and "fewer steps" in outputs[-1][0]


# ---------- 2. a channel's favourite pictures ----------
def test_examples_run_one_pass_then_browsing_reads_it(ctx, trained):
    builds = ex.PASSES.builds
    tiles, caption = run(ctx, insight.dataset_examples, DIGITS, "cn2", "shapes", 3, None, request("e"), NoBar())
    assert ex.PASSES.builds == builds + 1 and len(tiles) == insight.EXAMPLES.k
    model, info = trained(DIGITS)
    kept = ex.dataset_examples(model, info, "cn2", "shapes", insight.EXAMPLES)  # the same pass, read back
    view = ex.channel_examples(kept, 3)
    assert [label for _, label in tiles] == [f"{e.label}: {e.value:.3g}" for e in view.examples]
    for (path, _), example in zip(tiles, view.examples):
        with Image.open(path) as shown:
            assert np.array_equal(np.asarray(shown.convert("RGB")), example_tile(example))
    assert "strongest response in it" in caption and "Channels that respond most" in caption
    again, _ = run(ctx, insight.dataset_examples, DIGITS, "cn2", "shapes", 5, None, request("e"), NoBar())
    assert ex.PASSES.builds == builds + 1 and again != tiles  # another channel, read from the kept pass


def test_an_example_tile_boxes_the_patch_and_dims_the_rest():
    picture = np.full((28, 28, 3), 200, np.uint8)
    example = ex.Example(0, "x", 1.0, (0, 0), (4, 6, 18, 20), picture)
    tile = example_tile(example)
    factor = tile.shape[0] // 28
    assert tile.shape[0] >= TILE and tile.shape[:2] == (28 * factor, 28 * factor)
    assert (tile[10 * factor, 12 * factor] == 200).all()  # inside the box: the patch as it is
    assert (tile[1, 1] < 100).all()  # outside: dimmed
    assert tuple(tile[4 * factor, 12 * factor]) == (230, 30, 30)  # the box's top edge
    assert enlarged(np.zeros((32, 32), np.uint8)).shape == (160, 160)


def test_the_channels_own_picture_beside_its_examples(ctx):
    *_, (_, _, _, viz) = stream(ctx, DIGITS, "cn2", "4-5", 16, "channel")
    path, caption = run(ctx, insight.channel_picture, DIGITS, "cn2", 5, 16, viz)
    assert "from your visualisation above" in caption and caption.startswith("channel 5")
    with Image.open(path) as shown:
        assert np.array_equal(np.asarray(shown), enlarged(viz.pictures[1], insight.SHOWN_SIDE))
    path, caption = run(ctx, insight.channel_picture, DIGITS, "cn2", 7, 16, viz)  # not in it: made alone
    assert "Channel 7's own picture (16 steps)" in caption and "mean activation" in caption


@pytest.mark.parametrize("layer, dataset, channel, archive, message", [
    ("fc3", "shapes", 0, None, "has no channels"),  # a layer with no channels
    ("cn2", "shapes", 16, None, "has channels 0 to 15"),
    ("cn2", "imagenet", 0, None, "unknown data set"),
    ("cn2", "shapes", 0, "/nowhere/pictures.zip", "no archive at"),
    ("cn2", insight.MY_CLASSES, 0, None, "needs at least"),  # an empty class builder: too small
])
def test_bad_examples_requests_get_a_sentence(ctx, layer, dataset, channel, archive, message):
    with pytest.raises(gr.Error, match=message):
        run(ctx, insight.dataset_examples, DIGITS, layer, dataset, channel, archive, request("bad"), NoBar())


def test_a_missing_data_set_gets_a_sentence(ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNDEMO_DATA", str(tmp_path))
    with pytest.raises(gr.Error, match="mnist is not in this server's data folder.*never downloads"):
        run(ctx, insight.dataset_examples, DIGITS, "cn2", "mnist", 0, None, request("m"), NoBar())


def test_the_class_builders_pictures_are_a_data_set(ctx):
    session = ctx.sessions.get("builder")
    rng = np.random.default_rng(0)
    session.class_set = ClassSet(["dark", "bright"])
    for name, low in (("dark", 0), ("bright", 150)):
        session.class_set.add(name, [rng.integers(low, low + 100, (40, 40, 3)).astype(np.uint8) for _ in range(12)])
    tiles, caption = run(ctx, insight.dataset_examples, DIGITS, "cn1", insight.MY_CLASSES, 0, None,
                         request("builder"), NoBar())
    assert len(tiles) == insight.EXAMPLES.k and "the class set 'my classes'" in caption
    assert {label.split(":")[0] for _, label in tiles} <= {"dark", "bright"}


# ---------- 3. the feature space ----------
def test_the_feature_space_places_the_picture_and_states_both_rates(ctx, cat_file, monkeypatch):
    monkeypatch.setattr(insight, "SPACE", fs.SpaceSettings(k=6, max_pictures=200, max_iter=250))
    plot, by_features, by_pixels, caption = run(ctx, insight.feature_space, cat_file, CIFAR, "shapes", None,
                                                request("f"), NoBar())
    assert plot.axes and len(by_features) == len(by_pixels) == 6
    explainer = ctx.cache.get(CIFAR)
    space = fs.feature_space(explainer.model, explainer.info, "shapes", insight.SPACE)  # the kept map, read back
    rates = fs.neighbour_agreement(space, 6)
    shown = [int(v) / 100 for v in re.findall(r"\*\*(\d+)%\*\*", caption)]
    assert shown == pytest.approx(rates, abs=0.006)
    assert "pixel neighbours share colours" in caption and "distance to your picture" in caption
    placed = fs.place(space, explainer.model, explainer.info, open_image(cat_file), insight.SPACE)
    for (path, label), n in zip(by_features, placed.by_features):
        assert label == f"{n.label} ({n.distance:.3g})"
        with Image.open(path) as shown_tile:
            assert min(shown_tile.size) >= TILE


def test_the_feature_space_needs_explores_image(ctx):
    with pytest.raises(gr.Error, match="Explore tab's image"):
        run(ctx, insight.feature_space, None, CIFAR, "shapes", None, request("f"), NoBar())


# ---------- 4. fooling the network ----------
def test_fool_gives_a_png_within_epsilon_that_fools_the_model_read_back(ctx, cat_file):
    out = run(ctx, insight.fool, cat_file, CIFAR, "pgd", 8, "", NoBar())
    original, perturbation, adversarial, before, after, cam_before, cam_after, caption, png = out
    explainer = ctx.cache.get(CIFAR)
    with Image.open(png) as picture:
        assert picture.size == (32, 32)
        pixels = np.asarray(picture.convert("RGB")).astype(int)
    with Image.open(original) as shown:  # the original as shown: 8x enlarged, one block per model-input pixel
        first = np.asarray(shown.convert("RGB"))[::insight.SHOWN_SIDE // 32, ::insight.SHOWN_SIDE // 32].astype(int)
    assert first.shape == pixels.shape and 0 < np.abs(pixels - first).max() <= 8  # L-inf on the PNG file
    top = explainer.predict(png, 1)[0][0]  # Explore's upload path on the downloaded file
    assert top == max(after, key=after.get) != max(before, key=before.get)
    assert caption.startswith("**Fooled** (PGD, untargeted, epsilon = 8/255)") and "amplified" in caption
    assert Path(png).name.startswith(f"adversarial-{top}-8of255-")
    for path in (original, perturbation, adversarial, cam_before, cam_after):
        with Image.open(path) as shown:
            assert min(shown.size) >= TILE


def test_a_targeted_attack_names_its_target(ctx, cat_file):
    *_, caption, png = run(ctx, insight.fool, cat_file, CIFAR, "pgd", 16, "airplane", NoBar())
    assert "aimed at **airplane**" in caption
    assert ("now says **airplane**" in caption) == (ctx.cache.get(CIFAR).predict(png, 1)[0][0] == "airplane")


@pytest.mark.parametrize("method, epsilon, target, message", [
    ("fgsm", 0, "", "from 1/255 to 32/255"), ("fgsm", 40, "", "from 1/255 to 32/255"),  # epsilon out of range
    ("fgsm", 2.5, "", "whole number of pixel levels"), ("fgsm", "much", "", "number of pixel levels such as 2"),
    ("deepfool", 2, "", "unknown attack"), ("fgsm", 2, "giraffe", "unknown class"),
])
def test_bad_attacks_get_a_sentence(ctx, cat_file, method, epsilon, target, message):
    with pytest.raises(gr.Error, match=message):
        run(ctx, insight.fool, cat_file, CIFAR, method, epsilon, target, NoBar())


def test_the_tab_names_its_four_endpoints():
    import app

    names = {fn.api_name for fn in app.build_demo().fns.values()}
    assert {"visualize_channels", "dataset_examples", "feature_space", "fool"} <= names
    assert insight in app.TABS
