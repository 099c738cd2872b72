"""/train_classes and /mistakes through gradio_client, as a script would call them: class names and their files
in, a streamed run out; then one confusion-matrix cell's test pictures with their Grad-CAM."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402

from test_ui_train import pictures  # noqa: E402


@pytest.fixture(scope="module")
def colour_run(client, tmp_path_factory):
    """Two classes of eight pictures each, trained through /train_classes under a name of our own."""
    folder = tmp_path_factory.mktemp("pics")
    reds, blues = pictures(folder, 0, 8, 11), pictures(folder, 2, 8, 12)
    return client.predict(class_names="red, blue", pictures_1=[handle_file(p) for p in reds],
                          pictures_2=[handle_file(p) for p in blues], epochs=20, run_name="red or blue",
                          api_name="/train_classes")


def test_train_classes_streams_a_run_and_offers_the_model(client, colour_run):
    progress, curves, confusion, wrong, files, explore, run, true, predicted = colour_run
    assert "completed" in progress and "Run **red or blue**" in progress, progress
    assert re.search(r"\*\*12 training\*\* and \*\*4 test\*\* pictures", progress)
    assert "95 % interval" in progress and curves and confusion
    assert files is None  # nothing copied into Gradio's cache until someone asks for the files
    files = client.predict(run["value"], api_name="/download_run")
    assert sorted(str(f).rsplit(".", 1)[-1] for f in files) == ["json", "safetensors"]
    weights = next(Path(str(f)) for f in files if str(f).endswith(".safetensors"))
    assert weights.stat().st_size < 20_000  # the trained head and a reference to the frozen network
    assert explore["value"].startswith("run: red or blue #") and run["value"] == explore["value"]
    assert [c[1] for c in true["choices"]] == ["red", "blue"]


def test_mistakes_shows_the_cell_of_the_run(client, colour_run):
    model = colour_run[5]["value"]
    gallery, caption = client.predict(model, "red", "red", api_name="/mistakes")
    n = int(re.search(r"\*\*(\d+)\*\* test picture", caption).group(1))
    assert len(gallery) == n and all(item["caption"].startswith("#") for item in gallery)
    other = client.predict(model, "red", "blue", api_name="/mistakes")[1]
    assert int(re.search(r"\*\*(\d+)\*\* test picture", other).group(1)) + n == 2  # two red test pictures


def test_mistakes_of_another_sessions_run_is_refused_with_a_sentence(served, colour_run):
    from gradio_client import Client

    other = Client(served.local_url, verbose=False)  # another student: the run is not theirs to look into
    with pytest.raises(Exception, match="not one of this session's runs"):
        other.predict(colour_run[5]["value"], "red", "blue", api_name="/mistakes")


def test_one_class_is_refused_in_the_progress_text(client, tmp_path):
    result = client.predict(class_names="red", pictures_1=[handle_file(p) for p in pictures(tmp_path, 0, 3, 13)],
                            api_name="/train_classes")
    assert result[0].startswith("**Not trained:**") and "at least 2 classes" in result[0]
