"""The class builder in a real headless Chromium at 1280 x 720: two classes from uploads, a run, the mistakes view,
then the new model in Explore labelling one of its own pictures. Screenshots go to $CNNDEMO_ARTIFACTS."""
from __future__ import annotations

import pytest

from conftest import explain, top_label
from test_ui_train import pictures

pytestmark = pytest.mark.slow


def add_uploads(page, class_name: str, files: list[str]) -> None:
    """Pick a class, upload several pictures at once, wait until the builder says they went in."""
    page.locator("#class-builder").first.get_by_role("radio", name=class_name, exact=True).check()
    page.locator("#class-uploads input[type=file]").set_input_files(files)
    page.locator("#class-status").get_by_text(f"Added {len(files)} pictures to {class_name}").wait_for(timeout=60_000)


def test_two_classes_from_uploads_train_and_open_in_explore(page, artifacts, tmp_path):
    reds, blues = pictures(tmp_path, 0, 6, 21), pictures(tmp_path, 2, 6, 22)
    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Class names").fill("red, blue")
    page.get_by_role("button", name="Use these classes").click()
    # generous: on a loaded 2-core machine the page may still be answering its on-load events
    page.locator("#class-status").get_by_text("Classes: red, blue").wait_for(timeout=180_000)
    add_uploads(page, "red", reds)
    add_uploads(page, "blue", blues)
    assert "red** 6" not in page.locator("#class-builder").first.inner_text()  # Markdown is rendered, not shown raw
    assert "red 6 · blue 6 pictures (12 in all)" in page.locator("#class-builder").first.inner_text()
    assert page.locator("#class-thumbs img").count() == 6
    page.get_by_label("Name this run").fill("browser colours")
    page.locator("#train-classes").click()
    progress = page.locator("#train-progress")
    progress.get_by_text("Test accuracy").wait_for(timeout=180_000)
    assert "completed" in progress.inner_text() and "10 training and 2 test pictures" in progress.inner_text()
    page.locator("#mistakes-caption").get_by_text("test picture").first.wait_for(timeout=60_000)
    page.locator("#mistakes-gallery img").first.wait_for(timeout=60_000)  # each with its Grad-CAM
    assert page.get_by_text("not in the list of choices").count() == 0  # every picker took the new model
    page.screenshot(path=artifacts / "train-classes.png", full_page=True)

    page.get_by_role("tab", name="Explore").click()
    assert page.locator("#explore-model input").input_value().startswith("run: browser colours #")
    page.locator("#explore-image input[type=file]").set_input_files(blues[0])
    page.wait_for_timeout(1000)
    explain(page)
    assert top_label(page).startswith("blue")


def test_a_sketch_joins_a_class(page, artifacts):
    page.get_by_role("tab", name="Train").click()
    page.locator("#class-builder").first.get_by_role("radio", name="red", exact=True).check()
    page.locator("#class-builder").first.get_by_role("tab", name="Sketch").click()
    canvas = page.locator("#class-sketch canvas").last
    canvas.wait_for()
    page.locator("#class-sketch").get_by_role("button", name="Brush").click()  # "select the draw tool to start"
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the canvas sits in the middle
    page.mouse.move(cx - 50, cy - 50)
    page.mouse.down()
    for step in range(1, 20):  # a diagonal stroke
        page.mouse.move(cx - 50 + 6 * step, cy - 50 + 6 * step)
    page.mouse.up()
    page.get_by_role("button", name="Add the sketch").click()
    page.locator("#class-status").get_by_text("Added 1 picture to red").wait_for(timeout=60_000)
    assert page.locator("#class-thumbs img").count() == 7  # six uploads and the sketch
    page.screenshot(path=artifacts / "train-sketch.png", full_page=True)
