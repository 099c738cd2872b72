"""Launch the Blocks app on a free local port and drive every named endpoint with gradio_client."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

import pytest

gradio = pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402

from cnndemo.serving import ServingLimits  # noqa: E402
from cnndemo.ui.explore import DEFAULT_MODEL  # noqa: E402
from cnndemo.ui.train import train_config  # noqa: E402


def test_named_endpoints_exist(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/predict", "/feature_maps", "/attribute", "/compare", "/architecture"} <= names


def test_predict_labels_the_cat_offline(client, cat):
    label, status = client.predict(cat, "efficientnet_lite0", api_name="/predict")
    assert "package" in status
    top = label["label"].lower()
    assert any(word in top for word in ("cat", "tabby", "tiger", "egyptian", "persian", "siamese")), label


def test_app_starts_on_a_shipped_checkpoint_that_knows_the_cat(client, cat):
    from cnndemo.models.weights import shipped_checkpoint
    assert shipped_checkpoint(DEFAULT_MODEL).is_file()
    label, status = client.predict(cat, DEFAULT_MODEL, api_name="/predict")
    assert "untrained" not in status.lower() and label["label"] == "cat", (label, status)


def test_untrained_model_hides_predictions(client, cat):
    label, status = client.predict(cat, "vgg11", api_name="/predict")
    assert "untrained" in status.lower() or "random" in status.lower()
    assert label is None or not label.get("confidences")


def test_feature_maps_show_shape_and_formula(client, cat):
    grid, header, stats = client.predict(cat, "resnet18_cifar", "conv1", api_name="/feature_maps")
    assert "(1, 64, 32, 32)" in header and "out = (32 - 3 + 2*1)/1 + 1 = 32" in header
    assert len(stats["data"]) > 0


@pytest.mark.parametrize("method", ["gradcam", "guided_gradcam", "integrated_gradients", "occlusion"])
def test_attribute_every_method(client, cat, method):
    (before, after), colorbar, caption = client.predict(cat, "lenet5", method, "", "", 0.5, False,
                                                       api_name="/attribute")
    assert before and after and colorbar and "for **" in caption


def test_compare_two_models(client, cat):
    gallery, table = client.predict(cat, ["vgg11_cifar", DEFAULT_MODEL], api_name="/compare")
    assert len(gallery) == 2 and [r[0] for r in table["data"]] == ["vgg11_cifar", DEFAULT_MODEL]
    untrained, trained = table["data"]
    assert untrained[2:] == ["(untrained: hidden)"] * 3  # random weights never pass for predictions
    assert "cat" in trained[2].lower()


def test_architecture_table(client):
    table, totals = client.predict("alexnet_cifar", api_name="/architecture")
    assert "parameters" in totals and len(table["data"]) > 10


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
    progress, curves, confusion, wrong, files, explore = result
    assert curves and confusion and len(wrong) > 0  # curves, confusion matrix and mistakes all shown
    assert "completed" in progress and "Best test accuracy" in progress, progress
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
    assert (by_name["train"].concurrency_id, by_name["train"].concurrency_limit) == ("train", 1)


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


def test_training_budget_is_capped_by_the_server_limit():
    limits = ServingLimits(train_limit_s=300)
    for budget, expected in ((0, 300), (120, 120), (10_000, 300)):
        config = train_config("lenet5_mnist", "mnist", "scratch", 1, 64, 0.003, budget, 30, "r", limits)
        assert config.time_budget_s == expected


def test_googlenet_is_fed_at_the_size_its_checkpoint_was_tested_at(client, cat):
    """The CIFAR GoogLeNet ends its progressive resizing at 24 px; the app must feed it what it was measured on."""
    from cnndemo import checkpoints
    from cnndemo.models.weights import shipped_checkpoint
    side = checkpoints.read_meta(shipped_checkpoint("googlenet_cifar"))["input_size"][1]
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
