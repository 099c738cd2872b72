"""Launch the Blocks app on a free local port and drive every named endpoint with gradio_client."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

import pytest

gradio = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

from cnndemo.serving import ServingLimits  # noqa: E402
from cnndemo.ui.common import DEFAULT_MODEL  # noqa: E402
from cnndemo.ui.train import train_config  # noqa: E402
from test_zoo import empty_hub, throwaway  # noqa: E402,F401  (fixtures: an empty hub; two throwaway models)


def test_named_endpoints_exist(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/predict", "/feature_maps", "/attribute", "/compare", "/architecture", "/train", "/train_classes",
            "/mistakes", "/download_run", "/export_onnx", "/cancel"} <= names


def test_every_api_output_has_a_name(client):
    """gradio_client names an output after its component's label, or value_<id> when it has none."""
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    unnamed = {name: r["label"] for name, ep in api.items() for r in ep["returns"] if r["label"].startswith("value_")}
    assert not unnamed, unnamed
    assert [r["label"] for r in api["/predict"]["returns"]] == ["Predictions", "Weights status"]


def test_predict_labels_the_cat_offline(client, cat):
    label, status = client.predict(cat, "efficientnet_lite0", api_name="/predict")
    assert "package" in status
    top = label["label"].lower()
    assert any(word in top for word in ("cat", "tabby", "tiger", "egyptian", "persian", "siamese")), label


CAT_WORDS = ("cat", "tabby", "tiger", "egyptian", "persian", "siamese", "lynx")
IMAGENET_DOGS = range(151, 269)  # ImageNet's dog breeds: classes 151 (Chihuahua) to 268 (Mexican hairless)


def test_the_default_model_knows_photos_offline():
    from cnndemo.models import Readiness, model_info
    spec = model_info(DEFAULT_MODEL).weights
    assert spec.dataset == "imagenet" and spec.readiness() is Readiness.READY


def test_predict_without_a_model_argument_labels_the_cat(client, cat):
    label, status = client.predict(cat, api_name="/predict")  # the model argument takes the picker's default
    assert "untrained" not in status.lower()
    assert any(word in label["label"].lower() for word in CAT_WORDS), label


@pytest.mark.slow
def test_predict_without_a_model_argument_labels_dogs(client, tmp_path):
    """No small package ships a dog photo under a licence that is clearly free (CC0 / public domain), so the dogs
    are the first ten of CIFAR-10's test set (32 x 32, enlarged by the model's own resize): most must be dogs."""
    from PIL import Image

    from cnndemo.data import DataSettings
    from cnndemo.data.builtin import load_dataset
    from cnndemo.models import model_info
    from conftest import data_folder
    root = data_folder("cifar10")
    test = load_dataset("cifar10", str(root), split="test", settings=DataSettings(test_limit_per_class=10))
    dogs = test.images[test.labels == test.classes.index("dog")][:10]
    classes = model_info(DEFAULT_MODEL).classes
    hits = 0
    for i, dog in enumerate(dogs):
        path = tmp_path / f"dog{i}.png"
        Image.fromarray(dog.permute(1, 2, 0).numpy()).save(path)
        label, _ = client.predict(handle_file(str(path)), api_name="/predict")
        hits += classes.index(label["label"]) in IMAGENET_DOGS
    assert hits >= 7, f"{hits} of 10 CIFAR-10 test dogs labelled as a dog breed"


def test_untrained_model_hides_predictions(client, cat):
    # vgg11_cifar ships untrained; ImageNet vgg11 would download 500 MB where a network is (tests never do)
    label, status = client.predict(cat, "vgg11_cifar", api_name="/predict")
    assert "untrained" in status.lower() or "random" in status.lower()
    assert label is None or not label.get("confidences")


def test_feature_maps_show_shape_and_formula(client, cat):
    grid, header, stats = client.predict(cat, "resnet18_cifar", "conv1", api_name="/feature_maps")
    assert "(1, 64, 32, 32)" in header and "out = (32 - 3 + 2*1)/1 + 1 = 32" in header
    assert "32 of 64 channels shown" in header and len(stats["data"]) == 32


def test_feature_maps_can_show_every_channel(client, cat):
    _, header, stats = client.predict(cat, "resnet18_cifar", "conv1", True, api_name="/feature_maps")
    assert "all 64 channels shown" in header
    assert sorted(row[0] for row in stats["data"]) == list(range(64))  # each channel once, numbered as the tiles


@pytest.mark.parametrize("method", ["gradcam", "guided_gradcam", "integrated_gradients", "occlusion"])
def test_attribute_every_method(client, cat, method):
    from cnndemo.explain import get_method
    (before, after), colorbar, caption = client.predict(cat, "lenet5", method, "", "", 0.5, False,
                                                       api_name="/attribute")
    assert before and after and colorbar and "for **" in caption and "p = " in caption
    assert ("layer `" in caption) == get_method(method).uses_layer  # a layer is named only where one is used


def _suffix(path: str) -> str:
    """A returned file's suffix, lower case."""
    return Path(path).suffix.lower()


def _size(path: str) -> tuple[int, int]:
    from PIL import Image
    with Image.open(path) as img:
        return img.size


@pytest.mark.parametrize("model", ["efficientnet_lite0", "resnet18_cifar"])
def test_the_heatmap_is_drawn_over_the_upload_at_its_aspect(client, tmp_path, model):
    """A 640 x 480 upload comes back at 512 x 384, the heat only where the model looked (an ImageNet model: its
    centre crop, the margins dimmed; a CIFAR model: the whole picture)."""
    from PIL import Image

    from cnndemo.explain.picture import OUTSIDE
    from cnndemo.models import model_info
    path = tmp_path / "upload.png"
    Image.new("RGB", (640, 480), (200, 180, 160)).save(path)
    (heat, plain), _, _ = client.predict(handle_file(str(path)), model, "gradcam", "", "", 0.5, False,
                                         api_name="/attribute")
    assert _size(heat) == _size(plain) == (512, 384)
    left, top, right, bottom = (round(v * 0.8) for v in model_info(model).weights.crop_box(640, 480))
    pixels = np.asarray(Image.open(plain).convert("RGB"), dtype=np.float32).mean(axis=2)
    inside = np.zeros(pixels.shape, bool)
    inside[top:bottom, left:right] = True
    # a photo comes back as JPEG (quality 95, colour at full resolution): every pixel within 2 levels
    assert _suffix(plain) == _suffix(heat) == ".jpg"
    assert np.allclose(pixels[inside], 180, atol=2)  # the picture itself where the model looked ...
    assert np.allclose(pixels[~inside], 180 * OUTSIDE, atol=2)  # ... and dimmed where it did not
    assert inside.all() == (model_info(model).weights.crop_size is None)


def test_an_untrained_heatmap_names_no_probability(client, cat):
    _, _, caption = client.predict(cat, "vgg11_cifar", "gradcam", "", "", 0.5, False, api_name="/attribute")
    assert "untrained" in caption and "random weights" in caption and "p = " not in caption


def test_same_scale_caption_and_colour_bar(client, cat):
    _, bar, caption = client.predict(cat, "resnet18_cifar", "gradcam", "", "dog", 0.5, False, True,
                                     api_name="/attribute")
    assert "**dog**" in caption and "same scale as the top-1 class" in caption
    assert _size(bar)[0] > _size(bar)[1] and _suffix(bar) == ".png"  # a horizontal bar with its numbers: lossless


def test_compare_two_models(client, cat):
    gallery, table, boxed, seen, note = client.predict(cat, ["vgg11_cifar", "resnet18_cifar"], api_name="/compare")
    assert len(gallery) == 2 and [r[0] for r in table["data"]] == ["vgg11_cifar", "resnet18_cifar"]
    assert [tile["caption"] for tile in seen] == ["vgg11_cifar: 32x32", "resnet18_cifar: 32x32"]
    assert "only 10 classes (airplane" in note and "yellow box" in note and Path(boxed).is_file()
    assert "on the crop" in gallery[1]["caption"]
    untrained, trained = table["data"]
    assert untrained[5:] == ["(untrained: hidden)"] * 3  # random weights never pass for predictions
    assert "cat" in trained[5].lower() and trained[3].endswith("%")  # the sidecar's accuracy
    assert int(trained[2].replace(",", "")) == 11_173_962  # counted from the loaded model
    assert int(trained[1]) == 2015  # ResNet's year, from the story


def test_compare_opens_on_ready_models_in_historical_order():
    from cnndemo.learn.story import FAMILIES
    from cnndemo.models import Readiness
    from cnndemo.ui.compare import compare_choices, ready_names
    from cnndemo.ui.context import AppContext
    ctx = AppContext()
    ticked = ready_names(ctx)
    years = [FAMILIES[ctx.zoo.info(n).family][0] for n in ticked]
    assert years == sorted(years)  # one colour model per family and data set: an ImageNet form joins once here
    assert len({(ctx.zoo.info(n).family, ctx.zoo.info(n).dataset) for n in ticked}) == len(ticked)
    assert all(ctx.zoo.readiness(n) is Readiness.READY for n in ticked) and DEFAULT_MODEL in ticked
    offered = {n for _, n in compare_choices(ctx)}
    assert all(ctx.zoo.readiness(n) is Readiness.READY for n in offered)  # untrained ones only when asked
    assert any(ctx.zoo.readiness(n) is Readiness.UNTRAINED for _, n in compare_choices(ctx, untrained=True))


def test_compare_can_fix_one_class_for_every_model(client, cat):
    gallery, table, *_ = client.predict(cat, ["resnet18_cifar", DEFAULT_MODEL], "dog", api_name="/compare")
    cifar, imagenet = table["data"]
    assert cifar[4] == "dog"  # the class is fixed where the model has it ...
    assert imagenet[4] != "dog"  # ... and ImageNet, which has breeds but no "dog", shows its own top-1


def test_compare_says_a_download_failed_and_shows_no_accuracy_for_random_weights(empty_hub, monkeypatch, cat):
    """Issue 21: offline, resnet18 ran with random weights beside torchvision's 69.8 %, and Compare never said
    that the download had failed."""
    from cnndemo.models import download
    from cnndemo.ui.compare import compare
    from cnndemo.ui.context import AppContext

    def offline(url: str) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(download, "_probe", offline)
    gallery, table, _, _, note = AppContext().bind(compare)(cat["path"], ["resnet18_cifar", "resnet18"])
    cifar, imagenet = table.values.tolist()
    assert cifar[3].endswith("%") and imagenet[3] == "" and imagenet[4] == "(random weights)"
    assert "resnet18 runs with random weights: resnet18's ImageNet weights (44.7 MB) are not on this computer" in note
    assert "untrained" in gallery[1][1]


def test_every_tab_that_loads_a_model_whose_download_failed_says_so(empty_hub, monkeypatch, cat):
    from cnndemo.models import download
    from cnndemo.ui.architecture import architecture
    from cnndemo.ui.common import knows_sentence
    from cnndemo.ui.context import AppContext
    from cnndemo.ui.learn import filters_softmax

    def offline(url: str) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(download, "_probe", offline)
    ctx = AppContext()
    assert "knows the 1,000 ImageNet classes" in knows_sentence(ctx, "resnet18")  # before: it may download
    _, totals = architecture(ctx, "resnet18")  # the Architecture tab loads it first: the download fails there
    failed = "resnet18 runs with random weights: resnet18's ImageNet weights (44.7 MB) are not on this computer"
    assert failed in totals and knows_sentence(ctx, "resnet18").startswith(failed)  # Explore and Trust say it
    assert failed in filters_softmax(ctx, cat["path"], "resnet18")[2]  # the Learn tab's softmax note
    assert "%" not in dict((n, label) for label, n in ctx.zoo.choices())["resnet18"]


def test_compare_without_an_image_says_it_uses_explores(client):
    with pytest.raises(Exception, match="Explore tab's image"):
        client.predict(None, ["resnet18_cifar"], api_name="/compare")


def test_architecture_table(client):
    table, totals = client.predict("alexnet_cifar", api_name="/architecture")
    assert "parameters" in totals and len(table["data"]) > 10
    counts = [row[3] for row in table["data"]]
    assert any("," in c for c in counts) and all(c.replace(",", "").isdigit() for c in counts)


def test_bad_file_gets_a_message_and_server_keeps_serving(client, tmp_path, cat):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    with pytest.raises(Exception, match="(?i)not .*image|could not|cannot|unknown"):
        client.predict(handle_file(str(bad)), DEFAULT_MODEL, api_name="/predict")
    label, _ = client.predict(cat, DEFAULT_MODEL, api_name="/predict")
    assert label["label"]


@pytest.mark.slow
def test_train_endpoint_runs_and_offers_the_model(client, mnist_root):
    result = client.predict("lenet5_mnist", "mnist", None, "scratch", 1, 64, 0.003, 60, 30, api_name="/train")
    progress, curves, confusion, wrong, files, explore, run, true, predicted = result
    assert curves and confusion and len(wrong) > 0  # curves, confusion matrix and mistakes all shown
    assert "completed" in progress and "Test accuracy" in progress, progress
    assert "**mnist**" in progress and "test** pictures" in progress  # the data really used, and its counts
    assert run["value"] == explore["value"] and len(true["choices"]) == 10  # the mistakes view is on this run
    assert files is None  # the run's files reach Gradio's cache only when asked for
    files = client.predict(run["value"], api_name="/download_run")
    assert len(files) == 2 and any(str(f).endswith(".safetensors") for f in files)
    assert "run: " in str(explore)


def test_serving_settings(served):
    limits = ServingLimits.from_env()
    assert served.max_file_size == 20 * 1024 * 1024 and served.allowed_paths == []
    assert served._queue.max_size == limits.queue_size > 0
    by_name = {fn.api_name: fn for fn in served.fns.values() if fn.api_name}
    explain = [by_name[n] for n in ("predict", "feature_maps", "attribute", "compare")]
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in explain} == {("explain", limits.explain_concurrency)}
    assert limits.explain_concurrency >= 2
    for name in ("train", "train_classes"):  # one run at a time, whichever kind
        assert (by_name[name].concurrency_id, by_name[name].concurrency_limit) == ("train", 1)
    assert (by_name["mistakes"].concurrency_id, by_name["mistakes"].concurrency_limit) == \
        ("explain", limits.explain_concurrency)


def test_one_log_line_per_request(client, cat, caplog, tmp_path):
    import json

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="cnndemo.requests"):
        client.predict(cat, "lenet5_mnist", api_name="/predict")
        with pytest.raises(Exception):
            client.predict(handle_file(str(bad)), "lenet5_mnist", api_name="/predict")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cnndemo.requests"]
    assert [(x["endpoint"], x["model"], x["outcome"]) for x in lines[-2:]] == [
        ("predict", "lenet5_mnist", "ok"), ("predict", "lenet5_mnist", "refused")]
    assert all(x["device"] in ("cpu", "cuda") and x["latency_ms"] >= 0 for x in lines)


def test_a_refused_upload_is_one_log_line_and_no_traceback(client, caplog, capfd, tmp_path):
    import json

    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="cnndemo.requests"), pytest.raises(Exception, match="not an image"):
        client.predict(handle_file(str(bad)), "lenet5_mnist", api_name="/predict")
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out, printed.err[-2000:]
    line = json.loads([r for r in caplog.records if r.name == "cnndemo.requests"][-1].getMessage())
    assert (line["outcome"], line["reason"]) == ("refused", "bad_input") and "not an image" in line["detail"]


@pytest.mark.slow
def test_gradio_prunes_its_cache_of_the_apps_files(cat, tmp_path):
    import time

    import app
    from conftest import launch

    limits = ServingLimits(cache_max_age_s=1, cache_check_s=1)
    demo = launch(app.build_demo(limits=limits))
    try:
        assert demo.delete_cache == (1, 1)
        before = {f for files in demo.temp_file_sets for f in files}  # e.g. the examples, which Gradio keeps
        Client(demo.local_url, verbose=False).predict(cat, "lenet5", "", False, api_name="/feature_maps")
        cached = [Path(f) for files in demo.temp_file_sets for f in files if f not in before]
        assert cached and all(p.is_file() for p in cached)  # the feature-map picture handed to the browser
        time.sleep(4)
        assert not any(p.exists() for p in cached)
    finally:
        demo.close()


def test_training_budget_is_capped_by_the_server_limit():
    limits = ServingLimits(train_limit_s=300)
    for budget, expected in ((0, 300), (120, 120), (10_000, 300)):
        config = train_config("lenet5_mnist", "mnist", "scratch", 1, 64, 0.003, budget, 30, "r", limits)
        assert config.time_budget_s == expected


def test_googlenet_is_fed_at_the_size_its_checkpoint_was_tested_at(client, cat):
    """The CIFAR GoogLeNet ends its progressive resizing at 24 px; the app must feed it what it was measured on."""
    from cnndemo import checkpoints
    from cnndemo.models.weights import shipped_path
    side = checkpoints.read_meta(shipped_path("googlenet_cifar"))["input_size"][1]
    _, header, _ = client.predict(cat, "googlenet_cifar", "stem", api_name="/feature_maps")
    assert f"(1, 192, {side}, {side})" in header, header


def test_a_registered_method_is_offered_by_the_app_and_accepted_by_attribute(cat):
    """Adding a method is one class: the app's Method radio offers it and /attribute runs it (no other edit)."""
    from gradio_client import Client

    import app
    from conftest import launch
    from test_methods import THROWAWAY, throwaway_method
    with throwaway_method():
        demo = launch(app.build_demo())
        try:
            offered = [c for comp in demo.config["components"] if comp.get("props", {}).get("label") == "Method"
                       for c in comp["props"]["choices"]]
            assert any(THROWAWAY in choice for choice in offered), offered
            client = Client(demo.local_url, verbose=False)
            _, _, caption = client.predict(cat, "lenet5", THROWAWAY, "", "", 0.5, False, api_name="/attribute")
            assert "Input energy (test)" in caption
        finally:
            demo.close()


@pytest.fixture
def cat_path(tmp_path) -> str:
    """The cat example as a file path, as Explore's image input hands it over."""
    from cnndemo.examples import example_files
    return str(example_files(tmp_path)[0])


PICKERS = ("Model", "Model (follows the Explore tab)", "Architecture", "Architectures")


def _picker_names(demo) -> dict[str, list[str]]:
    """The model names each picker offers, in order."""
    found = {}
    for comp in demo.config["components"]:
        props = comp.get("props", {})
        if props.get("label") in PICKERS and "choices" in props:
            found[props["label"]] = [value for _, value in props["choices"]]
    return found


def test_every_model_picker_is_ordered_by_readiness(throwaway):
    """A registered model with weights and one without land in the ready and untrained groups of every picker;
    Compare leaves the untrained one out (test_zoo's throwaway registers both for this test only)."""
    import app
    found = _picker_names(app.build_demo())
    assert set(found) == set(PICKERS), found
    for label, names in found.items():
        assert "zz_trained" in names, label
        if label == "Architectures":
            assert "aa_untrained" not in names
        else:
            assert names.index("zz_trained") < names.index("aa_untrained"), label


def _drawn_digit() -> dict:
    """A sketchpad value with a white vertical stroke (a 1) on the black canvas."""
    canvas = np.zeros((280, 280, 3), np.uint8)
    canvas[40:240, 130:150] = 255
    return {"background": np.zeros_like(canvas), "layers": [canvas], "composite": canvas}


def test_a_drawing_goes_straight_to_a_digits_model():
    from cnndemo.ui.context import AppContext
    from cnndemo.ui.explore import predict, use_input
    ctx = AppContext()
    picture, model, layer, _, _, note = use_input(ctx, "sketch", _drawn_digit(), None, DEFAULT_MODEL)
    name = model["value"]
    assert ctx.zoo.info(name).dataset == "mnist" and ctx.zoo.state(name).trained
    assert f"goes to **{name}**" in note and layer["value"] in ctx.zoo.info(name).feature_layers
    label, _ = predict(ctx, picture, name)
    assert label["1"] == max(label.values()), label  # the stroke is read as a one


def test_a_drawing_goes_to_the_shipped_digits_model_whatever_another_session_trained(tmp_path):
    """Issue 21: once anyone had trained on MNIST, a fresh session's drawing went to that run, which its own
    picker did not list ('... is not in the list of choices'); now it goes to the best shipped digits model."""
    from cnndemo.ui.context import AppContext
    from cnndemo.ui.explore import use_input
    from test_zoo import _digits_run
    ctx = AppContext()
    ctx.zoo.add_run(_digits_run(tmp_path), "lenet mnist lesson #168ffa", owner="another session")
    _, model, *_, note = use_input(ctx, "sketch", _drawn_digit(), None, DEFAULT_MODEL)
    assert model["value"] == ctx.zoo.best("mnist") and not model["value"].startswith("run: ")
    assert f"goes to **{model['value']}**, the best digits model here (99." in note


def test_a_drawing_goes_to_a_run_only_when_the_student_picked_it(tmp_path):
    """The Train tab puts a finished run in Explore's picker; a drawing still goes to the shipped model (the run
    got 75 %) until the student picks the run by hand."""
    from cnndemo.ui.context import AppContext
    from cnndemo.ui.explore import use_input
    from test_zoo import _digits_run
    ctx = AppContext()
    run = ctx.zoo.add_run(_digits_run(tmp_path), "my digits #1", owner="me")
    choose = ctx.bind(use_input)
    _, model, *_, note = choose("sketch", _drawn_digit(), None, run)
    assert model["value"] == ctx.zoo.best("mnist") and f"pick {run} in the Model list" in note
    assert choose("sketch", _drawn_digit(), None, run, run)[1]["value"] == run  # picked by hand
    assert choose("sketch", _drawn_digit(), None, "mnist_cnn")[1]["value"] == "mnist_cnn"  # a shipped one picked


def test_the_pickers_that_follow_explore_list_this_sessions_runs_only(tmp_path):
    from types import SimpleNamespace

    from cnndemo.ui.context import AppContext, follow_model
    from test_zoo import _digits_run
    ctx = AppContext()
    run = ctx.zoo.add_run(_digits_run(tmp_path), "mine #2", owner="me")
    follow = ctx.bind(follow_model)
    mine = follow(run, SimpleNamespace(session_hash="me"))
    assert mine["value"] == run and run in [n for _, n in mine["choices"]]
    assert run not in [n for _, n in follow(DEFAULT_MODEL, SimpleNamespace(session_hash="you"))["choices"]]


def test_a_drawing_saved_as_a_file_enters_through_the_safe_loader(tmp_path):
    """Explore's sketchpad hands on the drawing's file undecoded: a PNG drawing works, a hostile one gets a sentence."""
    import gradio as gr
    from PIL import Image

    from cnndemo.ui.context import AppContext
    from cnndemo.ui.explore import use_input
    from test_ui_train import bomb_png
    ctx = AppContext()
    choose = ctx.bind(use_input)
    Image.fromarray(_drawn_digit()["composite"]).save(tmp_path / "digit.png")
    picture, model, *_ = choose("sketch", {"composite": str(tmp_path / "digit.png")}, None, DEFAULT_MODEL)
    assert picture.size == (280, 280) and ctx.zoo.info(model["value"]).dataset == "mnist"
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    with pytest.raises(gr.Error, match="pixels"):
        choose("sketch", {"composite": str(tmp_path / "bomb.png")}, None, DEFAULT_MODEL)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (280, 280)).save(blank)
    assert choose("sketch", {"composite": str(blank)}, None, DEFAULT_MODEL)[0] == gr.update()  # nothing drawn


def test_a_newer_image_is_not_replaced_by_an_old_drawing():
    from cnndemo.ui.context import AppContext
    from cnndemo.ui.explore import use_input
    updates = use_input(AppContext(), "image", _drawn_digit(), "photo.png", DEFAULT_MODEL)
    assert all(u == {"__type__": "update"} for u in updates)


def test_the_model_cache_hands_the_progress_callback_to_the_zoo():
    from cnndemo.explain import ModelCache, default_loader
    heard = []

    def loader(name, progress=None):
        heard.append(progress)
        return default_loader(name)

    def bar(p) -> None:
        pass

    cache = ModelCache(loader)
    cache.get("lenet5", bar)
    cache.get("lenet5_mnist")
    assert heard == [bar, None]


def test_offline_a_download_model_says_one_plain_sentence(cat_path, empty_hub, monkeypatch):
    from cnndemo.models import download
    from cnndemo.ui.context import AppContext
    from cnndemo.ui.explore import predict

    def offline(url: str) -> None:
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(download, "_probe", offline)
    label, status = predict(AppContext(), cat_path, "resnet18")
    assert label is None and "not on this computer" in status and "urlopen" not in status.lower(), status


def test_a_cifar_model_says_what_it_knows_and_shows_what_it_sees(cat_path):
    from cnndemo.explain.render import tensor_display
    from cnndemo.ui.context import AppContext
    from cnndemo.ui.explore import model_changed, model_view
    ctx = AppContext()
    *_, knows = model_changed(ctx, "resnet18_cifar")
    assert "knows the 10 CIFAR-10 classes" in knows and "32x32 px" in knows
    classes, seen, note, _ = model_view(ctx, cat_path, "resnet18_cifar", "dog")
    x = ctx.cache.get("resnet18_cifar").record(cat_path).x
    factor = seen.shape[0] // 32
    assert factor >= 2 and seen.shape == (32 * factor, 32 * factor, 3) and "3 x 32 x 32" in note
    info = ctx.zoo.info("resnet18_cifar")
    np.testing.assert_array_equal(seen[::factor, ::factor], tensor_display(x, info.mean, info.std))  # its pixels
    assert [v for _, v in classes["choices"]][1] == "cat" and classes["value"] == "dog"  # top 5 first
