"""Two students in one server, in a real headless Chromium at 1280 x 720: one trains on MNIST through the Train tab,
then another (a new browser context: its own Gradio session) draws a digit, and the drawing still goes to the
shipped digits model (issue 21: it went to the first student's run, which the second one's picker did not list,
and every Explain failed with '... is not in the list of choices'). Screenshots go to $CNNDEMO_ARTIFACTS."""
from __future__ import annotations

import pytest

from conftest import VIEWPORT, explain, top_label

pytestmark = pytest.mark.slow


def pick(page, label: str, option: str) -> None:
    """Choose option in the dropdown labelled label, as a person does: open it, type, click the option."""
    box = page.get_by_label(label)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()


def train_on_mnist(page) -> str:
    """Session A: a one-epoch LeNet run on 20 MNIST digits per class, through the Train tab's own Start button
    (the same server path as any lesson run); returns the run's name, which Explore's picker now holds."""
    page.get_by_role("tab", name="Train").click()
    pick(page, "Data set (built in)", "mnist")
    page.locator("#train-per-class input").fill("20")
    page.locator("#train-epochs input[type=number]").fill("1")
    page.locator("#train-epochs input[type=number]").press("Enter")
    page.get_by_role("button", name="Start").click()
    page.locator("#train-progress").get_by_text("Test accuracy").wait_for(timeout=300_000)
    page.get_by_role("tab", name="Explore").click()
    run = page.locator("#explore-model input").input_value()
    run = run.split(" — ")[0]
    assert run.startswith("run: ") and "mnist" in run, run  # session A's picker took its own new run
    assert run in listed_models(page)  # and lists it (the check session B's picker must fail)
    return run


def listed_models(page) -> list[str]:
    """Every choice Explore's model picker offers (opened and closed again)."""
    page.locator("#explore-model input").click()
    page.get_by_role("option").first.wait_for()
    names = [t.split(" — ")[0].split("\n")[-1].strip() for t in page.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    return names


def draw_a_one(page) -> None:
    """Open Explore's sketchpad and draw one vertical stroke down its middle (a '1')."""
    page.get_by_text("Draw a digit instead").click()
    pad = page.locator("#explore-sketch")
    canvas = pad.locator("canvas").last
    canvas.wait_for()
    pad.get_by_role("button", name="Brush", exact=True).click()  # "select the draw tool to start"
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy - 0.35 * box["height"])
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(cx, cy - 0.35 * box["height"] + 0.035 * box["height"] * step)
    page.mouse.up()


def test_a_drawing_after_another_session_trained_goes_to_the_shipped_model(page, artifacts, mnist_root):
    """Fails on the old behaviour in principle: the drawing went to the newest MNIST run (session A's), so session
    B's model box was set to a name outside its choices (an error toast, a blank box, no predictions)."""
    from cnndemo.zoo import Zoo

    run = train_on_mnist(page)
    other = page.context.browser.new_context(viewport=VIEWPORT)  # a second student: a new Gradio session
    try:
        student = other.new_page()
        student.set_default_timeout(60_000)
        student.goto(page.url)
        student.get_by_role("button", name="Explain").wait_for()
        assert run not in listed_models(student)  # another session's run is never offered here
        draw_a_one(student)
        explain(student)
        student.screenshot(path=artifacts / "sessions-drawing.png", full_page=True)
        assert student.get_by_text("not in the list of choices").count() == 0
        shipped = Zoo().best("mnist")
        shown = student.locator("#explore-model input").input_value()  # the choice's label: "name — data, ..."
        assert shown.split(" — ")[0] == shipped and "ready" in shown, shown
        assert "10 MNIST classes" in student.locator("#model-knows").inner_text()
        assert top_label(student) == "1"  # the shipped model's answer to the stroke
    finally:
        other.close()
