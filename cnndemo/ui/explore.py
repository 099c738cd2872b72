"""The Explore tab: one image through one model: its predictions, feature maps and attribution maps."""
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
from cnndemo.explain import ExplainSettings, get_method, method_choices
from cnndemo.models import layer_names
from cnndemo.outputs import image_file

from .components import SafeImage
from .context import AppContext
from .errors import need_image, user_errors

DEFAULT_MODEL = "resnet18_cifar"  # a shipped checkpoint (89 % on CIFAR-10); efficientnet_lite0 labels ImageNet's 1,000


def method_label(name: str) -> str:
    """The label for people of one attribution method (from its self-describing class)."""
    return get_method(name).label


def predictor(ctx: AppContext):
    """The /predict event of this app."""
    @ctx.guarded("predict")
    def predict(image, name: str):
        """Top-5 classes with probabilities (only for a model with trained weights) and a weights line."""
        explainer = ctx.cache.get(name)  # loading may fetch weights (online) and so update the state
        state = ctx.zoo.state(name)
        preds = explainer.predict(need_image(image), top_k=5) if state.trained else None
        label = {c: float(p) for c, p in preds} if preds else None
        hidden = "  \nPredictions are hidden: an untrained network's guesses mean nothing."
        note = f"**{name}** - {state.status}" + ("" if state.trained else hidden)
        return label, note
    return predict


def mapper(ctx: AppContext):
    """The /feature_maps event of this app."""
    @ctx.guarded("feature_maps")
    def feature_maps(image, name: str, layer: str):
        """The chosen layer's channels (most active first), its shape, stats and shape arithmetic."""
        view = ctx.cache.get(name).feature_maps(need_image(image), layer or None)
        header = f"**{view.layer}** output shape `{tuple(view.shape)}`  \n{view.description}"
        return image_file(view.grid), header, pd.DataFrame(view.table(), columns=["channel", "mean", "max", "zeros"])
    return feature_maps


def attributor(ctx: AppContext):
    """The /attribute event of this app."""
    @ctx.guarded("attribute")
    def attribute(image, name: str, method: str, layer: str, target: str, opacity: float, smooth: bool):
        """An attribution overlay (before/after), a colour bar and what it shows."""
        settings = ExplainSettings(method=method, layer=layer or None, target=target or None, opacity=opacity,
                                   noise_tunnel=smooth, ig_steps=16, nt_samples=4)
        view = ctx.cache.get(name).attribute(need_image(image), settings)
        caption = (f"{method_label(view.method)} for **{view.target_name}** "
                   f"(p = {view.probability:.3f}), layer `{view.layer}`")
        return (image_file(view.display), image_file(view.overlay)), image_file(view.colorbar), caption
    return attribute


def model_watcher(ctx: AppContext):
    """The event that refreshes the layer and class choices when another model is picked."""
    def model_changed(name: str):
        """Layer and class choices of the newly picked model."""
        info, layers = ctx.zoo.info(name), layer_names(ctx.cache.get(name).model)
        others = [n for n in layers if n not in info.feature_layers]
        return (gr.update(choices=list(info.feature_layers) + others, value=info.feature_layers[0]),
                gr.update(choices=layers, value=info.cam_layer),
                gr.update(choices=[""] + list(info.classes), value=""),
                f"{info.note}  \nInput {info.input_size}, {info.num_classes} classes ({info.dataset}).")
    return model_changed


@user_errors("use_drawing")
def use_drawing(sketch):
    """The sketchpad's picture as the current image (ink on a dark canvas, like MNIST digits)."""
    if not sketch or sketch.get("composite") is None:
        raise BadInputError("Draw something first.")
    # a PIL image goes to Gradio's own cache like any output: no temp folder of ours is served or left behind
    return Image.fromarray(np.clip(np.asarray(sketch["composite"]), 0, 255).astype(np.uint8))


def _image_column() -> dict:
    """The image input, the examples and the digit sketchpad."""
    examples = [str(p) for p in example_files(Path(tempfile.gettempdir()) / "cnndemo-examples")]
    with gr.Column(scale=1):
        image = SafeImage(label="Image", type="filepath", image_mode=None,
                          sources=["upload", "webcam", "clipboard"], height=300)
        gr.Examples(examples=examples, inputs=image, label="Examples (scikit-image, CC0)")
        with gr.Accordion("Draw a digit (for the MNIST models)", open=False):
            sketch = gr.Sketchpad(label="Sketch", type="numpy", image_mode="RGB",
                                  brush=gr.Brush(colors=["#ffffff"], default_size=18),
                                  value={"background": np.zeros((280, 280, 3), np.uint8), "layers": [],
                                         "composite": None},
                                  canvas_size=(280, 280))
            use_sketch = gr.Button("Use drawing")
    return {"image": image, "sketch": sketch, "use_sketch": use_sketch}


def _model_column(names: list[str]) -> dict:
    """The model picker, its notes, the Explain button and the predictions."""
    with gr.Column(scale=1):
        model = gr.Dropdown(names, value=DEFAULT_MODEL, label="Architecture")
        note, status = gr.Markdown(), gr.Markdown()
        run = gr.Button("Explain", variant="primary")
        label = gr.Label(num_top_classes=5, label="Predictions")
    return {"model": model, "note": note, "status": status, "run": run, "label": label}


def _maps_column() -> dict:
    """The feature-map layer picker, the channel grid and the per-channel statistics."""
    with gr.Column():
        layer = gr.Dropdown(label="Feature-map layer", allow_custom_value=True)
        maps = gr.Image(label="Channels, most active first", type="numpy", interactive=False)
        maps_info = gr.Markdown()
        stats = gr.Dataframe(label="Per-channel statistics", interactive=False)
    return {"layer": layer, "maps": maps, "maps_info": maps_info, "stats": stats}


def _attribution_column() -> dict:
    """The attribution method and its settings, the before/after slider, the colour bar and the caption."""
    with gr.Column():
        method = gr.Radio(method_choices(), value="gradcam", label="Method")
        cam_layer = gr.Dropdown(label="Grad-CAM layer", allow_custom_value=True)
        target = gr.Dropdown([""], label="Class (blank = top-1)", value="", allow_custom_value=True)
        with gr.Row():
            opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Opacity")
            smooth = gr.Checkbox(label="Noise tunnel (Integrated Gradients)")
        slider = gr.ImageSlider(label="Before / after", type="numpy")
        colorbar = gr.Image(label="Colour bar (top = strongest)", height=200, interactive=False)
        caption = gr.Markdown()
    return {"method": method, "cam_layer": cam_layer, "target": target, "opacity": opacity, "smooth": smooth,
            "slider": slider, "colorbar": colorbar, "caption": caption}


def _wire(ctx: AppContext, ui: SimpleNamespace) -> None:
    """Explain runs predict, then feature maps, then attribution; each control re-runs only its own part."""
    predict, feature_maps, attribute = predictor(ctx), mapper(ctx), attributor(ctx)
    maps_io = ([ui.image, ui.model, ui.layer], [ui.maps, ui.maps_info, ui.stats])
    attr_io = ([ui.image, ui.model, ui.method, ui.cam_layer, ui.target, ui.opacity, ui.smooth],
               [ui.slider, ui.colorbar, ui.caption])
    # triggers=None: on page load and whenever the model changes (also when the Train tab picks a new run)
    gr.on(None, model_watcher(ctx), ui.model, [ui.layer, ui.cam_layer, ui.target, ui.note], api_visibility="private")
    # .success: a refused image gives one message, not one per step
    ui.run.click(predict, [ui.image, ui.model], [ui.label, ui.status], api_name="predict", **ctx.shared) \
        .success(feature_maps, *maps_io, api_name="feature_maps", **ctx.shared) \
        .success(attribute, *attr_io, api_name="attribute", **ctx.shared)
    ui.layer.input(feature_maps, *maps_io, **ctx.private)
    for control in (ui.method, ui.cam_layer, ui.target, ui.smooth):
        control.input(attribute, *attr_io, **ctx.private)
    ui.opacity.release(attribute, *attr_io, **ctx.private)
    ui.use_sketch.click(use_drawing, ui.sketch, ui.image, api_visibility="private")


def build(ctx: AppContext) -> None:
    """The Explore tab; its image and model components go to ctx.components for the other tabs."""
    with gr.Tab("Explore"):
        with gr.Row():
            parts = {**_image_column(), **_model_column(ctx.zoo.names())}
        with gr.Row():
            parts |= {**_maps_column(), **_attribution_column()}
    ctx.components["image"], ctx.components["model"] = parts["image"], parts["model"]
    _wire(ctx, SimpleNamespace(**parts))
