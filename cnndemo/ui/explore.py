"""The Explore tab: one image through one model: its predictions, where it looked, and what each layer sees.

Laid out for a projector (1280 x 720): the image, the predictions and the heatmap share the first row; the
attribution settings, what the model sees and the feature maps come below. Every event's handler is a
module-level function named after its endpoint, taking the AppContext first (wired with ctx.bind).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from cnndemo import BadInputError
from cnndemo.examples import example_files
from cnndemo.explain import get_method, method_choices
from cnndemo.explain.picture import colorbar
from cnndemo.explain.picture import model_view as enlarged_input
from cnndemo.explain.render import tensor_display
from cnndemo.explain.trustviews import curves_title, faithfulness_figure
from cnndemo.learn.layers import layer_choices
from cnndemo.models import list_models
from cnndemo.outputs import image_file

from .common import class_choices, decoded, explain_settings, heat_files, knows_sentence, loading_progress
from .components import SafeSketchpad, drawing_pixels
from .context import AppContext, guarded
from .errors import need_image

DRAWING_DATASET = "mnist"  # a drawing is a handwritten digit: it goes to a model trained on these
STATS_HELP = ("**mean**: the channel's average activation; **max**: its strongest response; "
              "**zeros**: the share of positions that are exactly 0 (switched off, e.g. by a ReLU).")


def method_label(name: str) -> str:
    """The label for people of one attribution method (from its self-describing class)."""
    return get_method(name).label


@guarded("predict")
def predict(ctx: AppContext, image, name: str, progress=gr.Progress()):
    """Top-5 classes with probabilities (only for a model with trained weights) and a weights line."""
    explainer = ctx.cache.get(name, loading_progress(progress))  # a first use may download weights
    state = ctx.zoo.state(name)
    preds = explainer.predict(need_image(image), top_k=5) if state.trained else None
    label = {c: float(p) for c, p in preds} if preds else None
    hidden = "  \nPredictions are hidden: an untrained network's guesses mean nothing."
    note = f"{name}: {state.status}" + ("" if state.trained else hidden)
    return label, note


@guarded("model_view")
def model_view(ctx: AppContext, image, name: str, target: str):
    """The event after /predict: the class dropdown's choices (the top 5 first), and the model's input tensor
    de-normalised and enlarged."""
    explainer, info = ctx.cache.get(name), ctx.zoo.info(name)
    record = explainer.record(need_image(image))
    top = explainer.predict(image, 5) if ctx.zoo.state(name).trained else []
    choices = class_choices(tuple(info.classes), top)
    picture = tensor_display(record.x, tuple(info.mean), tuple(info.std))
    c, h, w = record.x.shape[1:]
    what = (f"**What the model sees**: {name} gets a {c} x {h} x {w} tensor (shown de-normalised, one block "
            "per input pixel).")
    value = target if target in info.classes else ""
    return gr.update(choices=choices, value=value), enlarged_input(picture), what, gr.update(visible=True)


@guarded("feature_maps")
def feature_maps(ctx: AppContext, image, name: str, layer: str, show_all: bool = False):
    """The chosen layer's channels (most active first, numbered), its shape, stats and shape arithmetic."""
    view = ctx.cache.get(name).feature_maps(need_image(image), layer or None, None if show_all else 32)
    header = (f"**{view.layer}** output shape `{tuple(view.shape)}`: {view.shown_text}  \n"
              + view.description.replace("\n", "  \n"))  # the description's lines stay lines
    return image_file(view.grid), header, pd.DataFrame(view.table(), columns=["channel", "mean", "max", "zeros"])


def caption_of(view, name: str, trained: bool) -> str:
    """What the heatmap shows: its class and probability (trained), or that these are random weights."""
    method = get_method(view.method)
    layer = f", layer `{view.layer}`" if method.uses_layer else ""
    if not trained:
        return (f"{method.label} of **untrained** {name}{layer}: random weights, so this map explains nothing "
                "(the model knows no class yet).")
    scale = view.top_text()  # what the colour bar's top value is
    return f"{method.label} for **{view.target_name}** (p = {view.probability:.3f}){layer}; {scale}."


@guarded("attribute")
def attribute(ctx: AppContext, image, name: str, method: str, layer: str, target: str, opacity: float,
              smooth: bool, same_scale: bool = False):
    """The heatmap over the uploaded picture (where the model looked), a numbered colour bar, a caption."""
    picture = decoded(image)
    settings = explain_settings(method, target, layer, smooth, opacity)
    view = ctx.cache.get(name).attribute(picture, settings, same_scale=bool(same_scale))
    unit = f"{method_label(view.method)} value; top = {view.top_meaning()}"  # what the bar's top value is
    heat, plain = heat_files(ctx, picture, name, [view], opacity, before=True)
    return (heat, plain), image_file(colorbar(view.colormap, view.scale, unit)), \
        caption_of(view, name, ctx.zoo.state(name).trained)


@guarded("faithfulness")
def faithfulness(ctx: AppContext, image, name: str, method: str = "gradcam", target: str = "", layer: str = "",
                 smooth: bool = False):
    """Deletion and insertion curves of the shown heatmap (a small plot) and their areas in a caption."""
    settings = explain_settings(method or "gradcam", target, layer, smooth)
    view, result = ctx.cache.get(name).faithfulness(need_image(image), settings)
    label = method_label(view.method)
    caveat = "" if ctx.zoo.state(name).trained else "  \nUntrained model: these scores say little."
    title = curves_title(label, view.target_name, ctx.zoo.state(name).trained)  # untrained: no class named
    return faithfulness_figure(result, title), f"**How faithful** ({label}): " + result.caption() + caveat


@guarded("model_changed", model_arg=1, timed=False)  # no time limit: a first use may download weights
def model_changed(ctx: AppContext, name: str, progress=gr.Progress()):
    """Layer and class choices of the newly picked model (loading it: a first use may download weights)."""
    return choices_for(ctx, name, ctx.cache.get(name, loading_progress(progress)).model)


def choices_for(ctx: AppContext, name: str, model) -> tuple:
    """Layer, CAM layer and class choices and the 'what it knows' sentence of one model."""
    info = ctx.zoo.info(name)
    layers = layer_choices(info)  # forward order, by stage, readable names beside the code names
    return (gr.update(choices=layers, value=info.feature_layers[0]),
            gr.update(choices=layers, value=info.cam_layer),
            gr.update(choices=class_choices(tuple(info.classes), []), value=""),
            knows_sentence(ctx, name))


def drawing_model(ctx: AppContext, name: str, picked: str = "") -> str:
    """The model a drawing goes to: name when it is a digits model of the registry, or a run the student picked
    by hand (picked); else the shipped digits model with the best recorded accuracy (never another session's run,
    nor a run the Train tab put in the picker)."""
    if ctx.zoo.info(name).dataset == DRAWING_DATASET and (name in list_models() or name == picked):
        return name
    best = ctx.zoo.best(DRAWING_DATASET)
    if best is None:
        raise BadInputError("No model trained on handwritten digits is ready here, so a drawing cannot be explained.")
    return best


def picked_by_hand(name: str) -> str:
    """The model the student chose in the picker (the picker's .input: the Train tab's pick does not count)."""
    return name


def sketch_picture(sketch) -> Image.Image | None:
    """The sketchpad's picture (ink on a dark canvas, like MNIST digits), or None when nothing is drawn."""
    pixels = drawing_pixels(sketch)
    return None if pixels is None else Image.fromarray(pixels)


@guarded("use_input", model_arg=4, timed=False)
def use_input(ctx: AppContext, source: str, sketch, image, name: str, picked: str = ""):
    """The first step of Explain: a sketch drawn last becomes the image and goes to a digits model; (image,
    model, layer, CAM layer, class, note) updates, nothing changed when the image is newer. picked: the model
    the student last chose in the picker by hand."""
    picture = sketch_picture(sketch) if source == "sketch" else None
    if picture is None:
        return (gr.update(),) * 6
    target = drawing_model(ctx, name, picked)
    layer, cam, classes, note = choices_for(ctx, target, ctx.cache.get(target).model)
    if target != name:
        note = f"{drawing_note(ctx, target, name)}  \n{note}"
    return picture, gr.update(value=target), layer, cam, classes, note


def drawing_note(ctx: AppContext, target: str, name: str) -> str:
    """Why a drawing went to target rather than the picked model name (and how to send it to name's run)."""
    score = ctx.zoo.accuracy(target)
    best = f"the best digits model here ({score:.1%} on the test set)" if score else "a digits model"
    why = (f"pick {name} in the Model list to send drawings to it" if ctx.zoo.info(name).dataset == DRAWING_DATASET
           else f"{name} does not know digits")
    return f"A drawing is a handwritten digit, so it goes to **{target}**, {best}; {why}."


def _image_column(ctx: AppContext) -> dict:
    """The image input (the app's shared one, placed here), the examples and the digit sketchpad."""
    examples = [str(p) for p in example_files(Path(tempfile.gettempdir()) / "cnndemo-examples")]
    with gr.Column(scale=4, min_width=300):
        image = ctx.inputs.image.render()
        with gr.Row(visible=False, equal_height=True) as seen_row:  # shown once a model has seen the image
            seen = gr.Image(show_label=False, height=120, interactive=False, buttons=[], elem_id="model-sees",
                            scale=1, min_width=120, format="png")  # input pixels as blocks: lossless
            seen_note = gr.Markdown(scale=2)
        gr.Examples(examples=examples, inputs=image, label="Examples (scikit-image, CC0)", examples_per_page=6)
        with gr.Accordion("Draw a digit instead (it goes to a digits model)", open=False):
            sketch = SafeSketchpad(label="Sketch", type="filepath", image_mode="RGB",
                                  brush=gr.Brush(colors=["#ffffff"], default_size=18),
                                  value={"background": np.zeros((280, 280, 3), np.uint8), "layers": [],
                                         "composite": None},
                                  canvas_size=(280, 280), elem_id="explore-sketch")
    return {"image": image, "sketch": sketch, "source": gr.State("image"), "seen_row": seen_row, "seen": seen,
            "seen_note": seen_note}


def _model_column(ctx: AppContext) -> dict:
    """The model picker (the app's shared one, placed here), the Explain button, the predictions and what the
    model knows."""
    with gr.Column(scale=3, min_width=260):
        model = ctx.inputs.model.render()
        note = gr.Markdown(elem_id="model-knows")
        run = gr.Button("Explain", variant="primary")
        label = gr.Label(num_top_classes=5, label="Predictions", show_heading=False, elem_id="predictions")
        status = gr.Markdown(label="Weights status")
    return {"model": model, "run": run, "label": label, "status": status, "note": note, "picked": gr.State("")}


def _heat_column() -> dict:
    """The heatmap over the picture (a slider that opens on the heat), its numbered colour bar and caption."""
    with gr.Column(scale=5, min_width=320):
        slider = gr.ImageSlider(label="Where the model looked (drag: heatmap | picture)", type="filepath",
                                slider_position=100, max_height=330, buttons=["fullscreen"], elem_id="heatmap")
        colorbar_image = gr.Image(label="Colour bar", show_label=False, height=60, interactive=False, container=False,
                                  buttons=[])
        caption = gr.Markdown(label="Heatmap caption", elem_id="heat-caption")
        faith_plot = gr.Plot(label="Deletion and insertion curves", show_label=False, elem_id="faithfulness-plot")
        faith_caption = gr.Markdown(label="Faithfulness", elem_id="faithfulness-caption")
    return {"slider": slider, "colorbar": colorbar_image, "caption": caption, "faith_plot": faith_plot,
            "faith_caption": faith_caption}


def _settings_row() -> dict:
    """The attribution method and its settings."""
    with gr.Row():
        method = gr.Radio(method_choices(), value="gradcam", label="Method", scale=3)
        cam_layer = gr.Dropdown(label="Grad-CAM layer", value="", allow_custom_value=True, scale=1)  # "": default
        target = gr.Dropdown([("(top-1 class)", "")], label="Class", value="", allow_custom_value=True, scale=1)
    with gr.Row():
        opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Opacity")
        same_scale = gr.Checkbox(label="Same scale for every class (the top-1 class sets it: classes compare)")
        smooth = gr.Checkbox(label="Noise tunnel (Integrated Gradients)")
    return {"method": method, "cam_layer": cam_layer, "target": target, "opacity": opacity,
            "same_scale": same_scale, "smooth": smooth}


def _maps_row() -> dict:
    """The feature-map layer picker, the numbered channel grid and the per-channel statistics."""
    gr.Markdown("### Feature maps: what one layer sees")
    with gr.Row():
        with gr.Column(scale=3):
            layer = gr.Dropdown(label="Feature-map layer", allow_custom_value=True)
            show_all = gr.Checkbox(label="Show all channels")
            maps_info = gr.Markdown(label="Layer shape")
            stats = gr.Dataframe(label="Per-channel statistics", interactive=False, max_height=300)
            gr.Markdown(STATS_HELP)
        with gr.Column(scale=5):
            maps = gr.Image(label="Feature maps", show_label=False, type="filepath", interactive=False,
                            buttons=["fullscreen"])
    return {"layer": layer, "show_all": show_all, "maps": maps, "maps_info": maps_info, "stats": stats}


def _wire(ctx: AppContext, ui: SimpleNamespace) -> None:
    """Explain: take a fresh drawing, predict, then the class list, feature maps and heatmap; each control
    re-runs only its own part."""
    maps_io = ([ui.image, ui.model, ui.layer, ui.show_all], [ui.maps, ui.maps_info, ui.stats])
    attr_io = ([ui.image, ui.model, ui.method, ui.cam_layer, ui.target, ui.opacity, ui.smooth, ui.same_scale],
               [ui.slider, ui.colorbar, ui.caption])
    seen_io = ([ui.image, ui.model, ui.target], [ui.target, ui.seen, ui.seen_note, ui.seen_row])
    ui.faith_io = ([ui.image, ui.model, ui.method, ui.target, ui.cam_layer, ui.smooth],
                   [ui.faith_plot, ui.faith_caption])
    picked = [ui.layer, ui.cam_layer, ui.target, ui.note]
    # triggers=None: on page load and whenever the model changes (also when the Train tab picks a new run)
    gr.on(None, ctx.bind(model_changed), ui.model, picked, api_visibility="private")
    ui.image.change(lambda: "image", None, ui.source, api_visibility="private", queue=False)
    ui.sketch.input(lambda: "sketch", None, ui.source, api_visibility="private", queue=False)
    ui.model.input(picked_by_hand, ui.model, ui.picked, api_visibility="private", queue=False)  # not Train's pick
    # .success: a refused image gives one message, not one per step
    ui.run.click(ctx.bind(use_input), [ui.source, ui.sketch, ui.image, ui.model, ui.picked],
                 [ui.image, ui.model, *picked], api_visibility="private") \
        .success(ctx.bind(predict), [ui.image, ui.model], [ui.label, ui.status], api_name="predict", **ctx.shared) \
        .success(ctx.bind(model_view), *seen_io, **ctx.private) \
        .success(ctx.bind(feature_maps), *maps_io, api_name="feature_maps", **ctx.shared) \
        .success(ctx.bind(attribute), *attr_io, api_name="attribute", **ctx.shared) \
        .success(ctx.bind(faithfulness), *ui.faith_io, api_name="faithfulness", **ctx.shared)
    _wire_controls(ctx, ui, maps_io, attr_io)


def _wire_controls(ctx: AppContext, ui: SimpleNamespace, maps_io: tuple, attr_io: tuple) -> None:
    """Each setting re-runs only its own part (the feature maps, or the heatmap)."""
    for control in (ui.layer, ui.show_all):
        control.input(ctx.bind(feature_maps), *maps_io, **ctx.private)
    for control in (ui.method, ui.cam_layer, ui.target, ui.smooth):  # these change the map: score it again
        control.input(ctx.bind(attribute), *attr_io, **ctx.private) \
            .success(ctx.bind(faithfulness), *ui.faith_io, **ctx.private)
    ui.same_scale.input(ctx.bind(attribute), *attr_io, **ctx.private)
    ui.opacity.release(ctx.bind(attribute), *attr_io, **ctx.private)


def build(ctx: AppContext) -> None:
    """The Explore tab; it places the app's shared image and model (ctx.inputs), which the other tabs follow."""
    with gr.Tab("Explore"):
        with gr.Row(equal_height=False):
            parts = {**_image_column(ctx), **_model_column(ctx), **_heat_column()}
        parts |= _settings_row()
        parts |= _maps_row()
    _wire(ctx, SimpleNamespace(**parts))
