"""Launch the Blocks app on a free local port and drive every named endpoint with gradio_client."""
from __future__ import annotations

import socket

import pytest

gradio = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

import app  # noqa: E402
from cnndemo.examples import example_files  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    demo = app.build_demo()
    demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True,
                max_file_size=app.MAX_FILE_SIZE)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    return handle_file(str(example_files(tmp_path_factory.mktemp("ex"))[0]))


def test_named_endpoints_exist(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/predict", "/feature_maps", "/attribute", "/compare", "/architecture"} <= names


def test_predict_labels_the_cat_offline(client, cat):
    label, status = client.predict(cat, app.DEFAULT_MODEL, api_name="/predict")
    assert "package" in status
    top = label["label"].lower()
    assert any(word in top for word in ("cat", "tabby", "tiger", "egyptian", "persian", "siamese")), label


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
    gallery, table = client.predict(cat, ["vgg11_cifar", app.DEFAULT_MODEL], api_name="/compare")
    assert len(gallery) == 2 and [r[0] for r in table["data"]] == ["vgg11_cifar", app.DEFAULT_MODEL]
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
        client.predict(handle_file(str(bad)), app.DEFAULT_MODEL, api_name="/predict")
    label, _ = client.predict(cat, app.DEFAULT_MODEL, api_name="/predict")
    assert label["label"]


@pytest.mark.slow
def test_train_endpoint_runs_and_offers_the_model(client):
    shared = __import__("pathlib").Path(__file__).resolve().parents[1].parent / "shared" / "data" / "MNIST"
    if not shared.is_dir():
        pytest.skip(f"MNIST not found at {shared}")
    result = client.predict("lenet5_mnist", "mnist", None, "scratch", 1, 64, 0.003, 60, 30, api_name="/train")
    progress, loss, acc, confusion, wrong, files, explore = result
    assert "completed" in progress and "Best test accuracy" in progress, progress
    assert len(files) == 2 and any(str(f).endswith(".safetensors") for f in files)
    assert str(explore).startswith("run: ") or "run: " in str(explore)
