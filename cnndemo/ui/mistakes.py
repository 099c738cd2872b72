"""The mistakes view of the Train tab: pick a confusion-matrix cell (true class, predicted class) of one of this
session's runs and see those test pictures, each with the Grad-CAM of the predicted class over it.

It works alike for class-builder sets, archives and built-in data sets: every run keeps its test split
(ui.sessions.RunRecord), and the model comes from the app's one ModelCache (the same model Explore shows).
"""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from cnndemo.checkpoints import read_meta
from cnndemo.data import BatchSpec
from cnndemo.explain import Explainer, ExplainSettings
from cnndemo.outputs import image_file
from cnndemo.train import mistakes as find_mistakes
from cnndemo.train.evaluate import checkpoint_spec
from cnndemo.train.mistakes import Cell

from .context import AppContext, guarded
from .sessions import RunRecord, Sessions

MAX_SHOWN = 12  # pictures of a cell drawn with their Grad-CAM (each one is a forward and a backward)
# Gradio stretches a gallery of fewer pictures than columns over the whole width (two 580 px tiles); keep the
# tiles as narrow as with a full row
TILES_CSS = ("<style>#mistakes-gallery .grid-container {grid-template-columns: repeat(8, minmax(0, 1fr)) !important;}"
             " #class-thumbs .grid-container {grid-template-columns: repeat(6, minmax(0, 1fr)) !important;}</style>")


def cell_of(explainer: Explainer, record: RunRecord, true_class: str, predicted_class: str) -> tuple[Cell, BatchSpec]:
    """The run's test pictures of true_class that its model calls predicted_class (computed now, not recalled),
    and how the model is fed."""
    spec = checkpoint_spec(read_meta(record.checkpoint))
    device = next(explainer.model.parameters()).device
    with explainer.lock:  # no explain request runs on this model meanwhile
        return find_mistakes(explainer.model, record.test, spec, true_class, predicted_class, device=device), spec


def cell_gallery(explainer: Explainer, cell: Cell, spec: BatchSpec, limit: int = MAX_SHOWN) -> list[tuple]:
    """(Grad-CAM overlay of the predicted class, caption) for the first `limit` pictures of the cell."""
    from cnndemo.data import to_input

    target = cell.test.classes.index(cell.predicted_class)
    shown = []
    for i in cell.indices[:limit]:
        x = to_input(cell.test.images[i:i + 1], spec)
        view = explainer.attribute(x, ExplainSettings(method="gradcam", target=target, opacity=0.45))
        shown.append((view.overlay, f"#{i + 1}  p = {view.probability:.2f}"))  # test picture number
    return shown


def cell_caption(cell: Cell, shown: int) -> str:
    """What the gallery holds: how many pictures the cell has, and which of them are shown."""
    n, right = len(cell.indices), cell.true_class == cell.predicted_class
    what = "right" if right else f"wrong: called **{cell.predicted_class}**"
    head = f"**{n}** test picture{'s' * (n != 1)} of **{cell.true_class}** {what}"
    more = f"; the first {shown} are shown" if shown < n else ""
    return (head + more + ". Under each: its number among the test pictures and the probability of the predicted "
            "class; the heatmap (Grad-CAM) shows where the model looked for that class.")


@guarded("mistakes", model_arg=1)
def mistakes(ctx: AppContext, model: str, true_class: str, predicted_class: str, request: gr.Request):
    """The test pictures of one confusion-matrix cell with their Grad-CAM, and a caption."""
    if not model:
        return [], "Train a run first; its mistakes show here."
    record = ctx.sessions.run(model, request.session_hash)
    explainer = ctx.cache.get(model)
    cell, spec = cell_of(explainer, record, true_class, predicted_class)
    shown = cell_gallery(explainer, cell, spec)
    return [(image_file(a), c) for a, c in shown], cell_caption(cell, len(shown))


def run_choices(sessions: Sessions, key: str | None) -> list[tuple[str, str]]:
    """(label, model name) of this session's runs, newest first."""
    return [(r.label, r.model) for r in sessions.get(key).runs]


def picker_updates(sessions: Sessions, key: str | None, record: RunRecord, matrix: list | None) -> tuple:
    """The run picker on a new run, and its class pickers on the cell with the most mistakes (if any)."""
    classes = list(record.test.classes)
    t, p = 0, min(1, len(classes) - 1)
    if matrix:
        cells = [(n, i, j) for i, row in enumerate(matrix) for j, n in enumerate(row) if i != j]
        n, i, j = max(cells, default=(0, 0, 0))
        t, p = (i, j) if n else (0, 0)
    return (gr.update(choices=run_choices(sessions, key), value=record.model),
            gr.update(choices=classes, value=classes[t]), gr.update(choices=classes, value=classes[p]))


def mistakes_classes(ctx: AppContext, model: str, request: gr.Request):
    """The event that sets the class pickers to the picked run's classes."""
    if not model:
        return gr.skip(), gr.skip()
    classes = list(ctx.sessions.run(model, request.session_hash).test.classes)
    return gr.update(choices=classes, value=classes[0]), gr.update(choices=classes, value=classes[-1])


def build() -> SimpleNamespace:
    """The view's components: run, true class, predicted class, Show, the gallery and its caption."""
    with gr.Accordion("Mistakes: which test pictures a run gets wrong, and where it looked", open=True):
        with gr.Row(equal_height=True):
            # custom values: a script names its run and classes; show_mistakes checks them with a sentence
            run = gr.Dropdown([], label="Run (this session's)", scale=3, elem_id="mistakes-run",
                              allow_custom_value=True)
            true = gr.Dropdown([], label="True class", scale=2, elem_id="mistakes-true", allow_custom_value=True)
            predicted = gr.Dropdown([], label="Predicted class", scale=2, elem_id="mistakes-predicted",
                                    allow_custom_value=True)
            show = gr.Button("Show", scale=1)
        caption = gr.Markdown(label="Caption", elem_id="mistakes-caption")
        gr.HTML(TILES_CSS, padding=False)
        gallery = gr.Gallery(label="Test pictures of this cell, Grad-CAM of the predicted class", columns=8,
                             height=200, object_fit="contain", elem_id="mistakes-gallery")
    return SimpleNamespace(run=run, true=true, predicted=predicted, show=show, caption=caption, gallery=gallery)


def wire(ctx: AppContext, ui: SimpleNamespace) -> None:
    """Show -> /mistakes; picking a run offers its classes."""
    ui.show.click(ctx.bind(mistakes), [ui.run, ui.true, ui.predicted], [ui.gallery, ui.caption],
                  api_name="mistakes", **ctx.shared)
    ui.run.input(ctx.bind(mistakes_classes), ui.run, [ui.true, ui.predicted], api_visibility="private")
