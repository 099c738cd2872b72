"""cnndemo's Gradio app: UI only. Each event hands its inputs to the cnndemo package and shows what comes back."""
from __future__ import annotations

import base64
import functools
import hashlib
import io
import itertools
import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from cnndemo import BadInputError, logs
from cnndemo.examples import example_files
from cnndemo.explain import ExplainSettings, ModelCache
from cnndemo.data import BUILTIN, DataSettings, load_splits
from cnndemo.models import layer_names, list_models
from cnndemo.train import TrainConfig, train
from cnndemo.serving import (Deadline, FileFlag, ServerBusy, ServingLimits, TimeLimitExceeded, free_memory,
                             is_out_of_memory)
from cnndemo.zoo import Zoo
from cnndemo.outputs import image_file, prune_outputs  # noqa: F401  (tests reach it here)
from cnndemo.ui.errors import need_image, serving_device, user_errors, user_errors_stream  # noqa: F401

DEFAULT_MODEL = "resnet18_cifar"  # a shipped checkpoint (89 % on CIFAR-10); efficientnet_lite0 labels ImageNet's 1,000
MAX_FILE_SIZE = "20mb"
REFRESH_S = 0.5  # how often the Train tab redraws during a run
RUNS = Path(os.environ.get("CNNDEMO_RUNS", Path(tempfile.gettempdir()) / "cnndemo-runs"))
STORY = ("lenet5", "alexnet_cifar", "vgg16_bn_cifar", "googlenet_cifar", "resnet18_cifar", "densenet121_cifar",
         "efficientnet_lite0")
METHOD_LABELS = {"gradcam": "Grad-CAM", "guided_gradcam": "Guided Grad-CAM",
                 "integrated_gradients": "Integrated Gradients", "occlusion": "Occlusion"}
log = logging.getLogger("cnndemo.app")


def launch_options() -> dict:
    """launch() arguments every entry point uses: the upload cap, and no served folders beyond Gradio's cache."""
    return {"max_file_size": MAX_FILE_SIZE, "allowed_paths": [], "show_error": True}


class SafeImage(gr.Image):
    """An image input that passes the upload to cnndemo.images untouched: Gradio never decodes user files."""

    is_template = True  # reuse gr.Image's front end rather than look for a custom one

    def preprocess(self, payload):
        """The uploaded file's path (or the bytes of a pasted data: URL), not yet decoded."""
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            return base64.b64decode(payload.url.split(",", 1)[1])
        return payload.path


def on_gpu(fn, duration):
    """fn under ZeroGPU's spaces.GPU when the `spaces` package is importable (a Hugging Face Space); else fn."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn)


def run_training(config: TrainConfig, data, stop: FileFlag):
    """The trainer's messages for one run (the part that needs a GPU; under ZeroGPU it runs in a GPU worker)."""
    yield from train(config, data, stop)


class TrainView:
    """What the Train tab shows, rebuilt from the trainer's messages."""

    def __init__(self, data) -> None:
        self.data, self.steps, self.epochs, self.line = data, [], [], "Starting..."
        self.confusion, self.wrong, self.files, self.explore = None, [], None, gr.update()

    def update(self, m: dict) -> None:
        """Fold one trainer message into the view."""
        kind = m["kind"]
        if kind == "start":
            self.line = (f"Training **{m['model']}** ({m['mode']}) on **{m['device']}**: {m['n_train']:,} images, "
                         f"{m['trainable']:,} of {m['params']:,} parameters trainable")
        elif kind == "status":
            self.line = m["message"]
        elif kind == "step":
            self.steps.append({"step": m["step"], "value": m["loss"], "curve": "train loss"})
            eta = f", about {m['eta_s']:.0f} s left" if m.get("eta_s") is not None else ""
            self.line = (f"step {m['step']}/{m['steps_total']} ({100 * m['step'] / m['steps_total']:.0f} %), "
                         f"loss {m['loss']:.3f}, {m['images_per_s']:.0f} images/s{eta}")
        elif kind == "epoch":
            self._epoch(m)
        elif kind == "done":
            acc = m["metrics"].get("test_acc")
            self.line = (f"**{m['reason']}** after {m['elapsed_s']:.0f} s on {m['device']}: {m['message']}. "
                         + (f"Best test accuracy **{100 * acc:.2f} %**." if acc is not None else "No checkpoint."))

    def _epoch(self, m: dict) -> None:
        """Curves, confusion matrix and mistakes after an epoch's evaluation."""
        self.epochs += [{"epoch": m["epoch"], "value": m["train_acc"], "curve": "train"},
                        {"epoch": m["epoch"], "value": m["test_acc"], "curve": "test"}]
        self.steps.append({"step": m["step"], "value": m["test_loss"], "curve": "test loss"})
        if "confusion_matrix" in m:
            self.confusion = confusion_figure(m["confusion_matrix"], self.data.classes)
        images = self.data.test.images
        self.wrong = [(image_file(images[i].permute(1, 2, 0).squeeze(-1).numpy()),
                       f"{self.data.classes[t]} -> {self.data.classes[p]}") for i, t, p in m.get("misclassified", [])[:18]]

    def outputs(self) -> tuple:
        """Values for the Train tab's outputs, in wiring order."""
        return self.line, curves_figure(self.steps, self.epochs), self.confusion, self.wrong, self.files, self.explore


def train_config(name, dataset, mode, epochs, batch_size, lr, budget, per_class, run: str,
                 limits: ServingLimits) -> TrainConfig:
    """The run's settings from the Train tab; the time budget never exceeds the server's training limit."""
    budget_s = min(float(budget or 0) or limits.train_limit_s, limits.train_limit_s)
    return TrainConfig(model=name, dataset=dataset, mode=mode, epochs=int(epochs), batch_size=int(batch_size),
                       lr=float(lr), time_budget_s=budget_s, limit_per_class=int(per_class or 0) or None,
                       test_limit_per_class=200 if per_class else None, out=str(RUNS / run))


def log_training(message: dict, run: str, model: str, device: str | None) -> str | None:
    """One log line per epoch and at the start and end of a run; returns the run's device once known."""
    kind = message["kind"]
    device = message.get("device", device)
    if kind == "epoch":
        logs.log_epoch(message, run=run, model=model, device=device or "?")
    elif kind in ("start", "done"):
        extra = ({"n_train": message["n_train"]} if kind == "start" else
                 {"reason": message["reason"], "metrics": {k: v for k, v in message["metrics"].items()
                                                           if not isinstance(v, (list, dict))},
                  "checkpoint": message.get("checkpoint")})
        logs.log_run(kind, run=run, model=model, device=device or "?", **extra)
    return device


def curves_figure(steps: list[dict], epochs: list[dict]) -> Figure:
    """Loss against step and accuracy against epoch, train and test, as one matplotlib figure."""
    fig = Figure(figsize=(9, 3.2), tight_layout=True)
    loss, acc = fig.subplots(1, 2)
    for ax, points, x, title in ((loss, steps, "step", "loss"), (acc, epochs, "epoch", "accuracy")):
        for curve in dict.fromkeys(p["curve"] for p in points):
            xs, ys = zip(*[(p[x], p["value"]) for p in points if p["curve"] == curve])
            ax.plot(xs, ys, marker="o" if x == "epoch" or "test" in curve else None, ms=3, label=curve)
        ax.set(xlabel=x, title=title)
        if points:
            ax.legend(fontsize=8)
    return fig


def confusion_figure(matrix: list[list[int]], classes) -> Figure:
    """A labelled confusion-matrix heat map (rows: true class, columns: predicted)."""
    fig = Figure(figsize=(5, 4.2), tight_layout=True)
    ax = fig.add_subplot()
    ax.imshow(np.asarray(matrix), cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return fig


def build_demo(zoo: Zoo | None = None, cache: ModelCache | None = None,
               limits: ServingLimits | None = None) -> gr.Blocks:
    """Wire every tab's events to the cnndemo package; nothing runs until a user asks."""
    zoo = zoo or Zoo()
    cache = cache or ModelCache(zoo.load, max_models=3)
    limits = limits or ServingLimits.from_env()
    deadline = Deadline(limits.time_limit_s, limits.max_overdue)

    def guarded(endpoint: str, model_arg: int | None = 1):
        return user_errors(endpoint, deadline=deadline, model_arg=model_arg, cache=cache)
    names = zoo.names()
    examples = [str(p) for p in example_files(Path(tempfile.gettempdir()) / "cnndemo-examples")]

    # ---------- Explore ----------
    @guarded("predict")
    def predict(image, name: str):
        """Top-5 classes with probabilities (only for a model with trained weights) and a weights line."""
        explainer = cache.get(name)  # loading may fetch weights (online) and so update the state
        state = zoo.state(name)
        preds = explainer.predict(need_image(image), top_k=5) if state.trained else None
        label = {c: float(p) for c, p in preds} if preds else None
        note = f"**{name}** - {state.status}" + ("" if state.trained else
                                                  "  \nPredictions are hidden: an untrained network's guesses mean nothing.")
        return label, note

    @guarded("feature_maps")
    def feature_maps(image, name: str, layer: str):
        """The chosen layer's channels (most active first), its shape, stats and shape arithmetic."""
        view = cache.get(name).feature_maps(need_image(image), layer or None)
        header = f"**{view.layer}** output shape `{tuple(view.shape)}`  \n{view.description}"
        return image_file(view.grid), header, pd.DataFrame(view.table(), columns=["channel", "mean", "max", "zeros"])

    @guarded("attribute")
    def attribute(image, name: str, method: str, layer: str, target: str, opacity: float, smooth: bool):
        """An attribution overlay (before/after), a colour bar and what it shows."""
        settings = ExplainSettings(method=method, layer=layer or None, target=target or None, opacity=opacity,
                                   noise_tunnel=smooth, ig_steps=16, nt_samples=4)
        view = cache.get(name).attribute(need_image(image), settings)
        caption = (f"{METHOD_LABELS[view.method]} for **{view.target_name}** "
                   f"(p = {view.probability:.3f}), layer `{view.layer}`")
        return (image_file(view.display), image_file(view.overlay)), image_file(view.colorbar), caption

    def model_changed(name: str):
        """Layer and class choices of the newly picked model."""
        info, layers = zoo.info(name), layer_names(cache.get(name).model)
        others = [n for n in layers if n not in info.feature_layers]
        return (gr.update(choices=list(info.feature_layers) + others, value=info.feature_layers[0]),
                gr.update(choices=layers, value=info.cam_layer),
                gr.update(choices=[""] + list(info.classes), value=""),
                f"{info.note}  \nInput {info.input_size}, {info.num_classes} classes ({info.dataset}).")

    @user_errors("use_drawing")
    def use_drawing(sketch):
        """The sketchpad's picture as the current image (ink on a dark canvas, like MNIST digits)."""
        if not sketch or sketch.get("composite") is None:
            raise BadInputError("Draw something first.")
        # a PIL image goes to Gradio's own cache like any output: no temp folder of ours is served or left behind
        return Image.fromarray(np.clip(np.asarray(sketch["composite"]), 0, 255).astype(np.uint8))

    # ---------- Compare ----------
    @guarded("compare")
    def compare(image, chosen: list[str]):
        """Top-3 and Grad-CAM of one image through several architectures."""
        if not chosen:
            raise BadInputError("Tick at least one architecture to compare.")
        rows = cache.compare(need_image(image), list(chosen))
        trained = [zoo.state(r.name).trained for r in rows]
        gallery = [(image_file(r.overlay), f"{r.name}: {r.top3[0][0]} ({r.top3[0][1]:.2f})" if ok else f"{r.name}: untrained")
                   for r, ok in zip(rows, trained)]
        table = [[r.name, ok] + ([f"{c} ({p:.2f})" for c, p in r.top3] if ok else ["(untrained: hidden)"] * 3)
                 for r, ok in zip(rows, trained)]
        return gallery, pd.DataFrame(table, columns=["model", "trained", "top-1", "top-2", "top-3"])

    # ---------- Architecture ----------
    @guarded("architecture", model_arg=0)
    def architecture(name: str):
        """The layer table, totals, teaching note and worked formulas of one model."""
        from cnndemo.summary import summary
        info = zoo.info(name)
        model = cache.get(name).model
        with cache.get(name).lock:  # torchinfo hooks the same cached model an explain call may be using
            s = summary(model, info.input_size)
        rows = [[r.name, r.type, str(r.output_shape), r.params, r.mult_adds] for r in s.rows]
        totals = (f"**{s.total_params:,} parameters**, {s.total_mult_adds:,} multiply-adds, "
                  f"{s.params_mb:.2f} MB of weights  \n{info.note}  \n{first_conv_worked(model, info)}")
        return pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters", "mult-adds"]), totals

    # ---------- Train ----------
    stops: dict[str, FileFlag] = {}  # one cancel flag per browser session
    gpu_training = on_gpu(run_training, duration=lambda config, data, stop: int(config.time_budget_s or 60) + 60)

    @user_errors_stream("train", model_arg=0)
    def start_training(name, dataset, archive, mode, epochs, batch_size, lr, budget, per_class,
                       request: gr.Request):
        """Stream one training run: curves, progress, then confusion matrix, mistakes and the checkpoint."""
        run = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"  # unique: no run is ever overwritten
        stop = stops[request.session_hash] = FileFlag(RUNS / f".{run}.stop")
        config = train_config(name, archive or dataset, mode, epochs, batch_size, lr, budget, per_class, run, limits)
        data = load_splits(config.dataset, DataSettings(limit_per_class=config.limit_per_class,
                                                        test_limit_per_class=config.test_limit_per_class))
        view, device, shown = TrainView(data), None, 0.0
        try:
            for message in gpu_training(config, data, stop):
                device = log_training(message, run, name, device)
                view.update(message)
                if message["kind"] == "done" and message.get("checkpoint"):
                    view.files, view.explore = offer_run(message["checkpoint"])
                if message["kind"] != "step" or time.monotonic() - shown > REFRESH_S:  # steps come too fast to draw
                    shown = time.monotonic()
                    yield view.outputs()
        finally:
            stop.clear()
            if stops.get(request.session_hash) is stop:
                del stops[request.session_hash]

    def offer_run(checkpoint: str):
        """Register a finished run as a model (fresh in the cache) and offer its files for download."""
        run_name = zoo.add_run(checkpoint, Path(checkpoint).stem)
        cache.drop(run_name)  # never serve an earlier model under this name
        files = [checkpoint, str(Path(checkpoint).with_suffix(".json"))]
        return files, gr.update(choices=zoo.names(), value=run_name)

    def cancel_training(request: gr.Request):
        """Ask this session's run to stop after the current step (the best checkpoint is kept)."""
        stop = stops.get(request.session_hash)
        if stop:
            stop.set()
        return "Stopping after the current step..."

    with gr.Blocks(title="cnndemo - a CNN explorer") as demo:
        gr.Markdown("# cnndemo - look inside a CNN\nUpload a photo (or pick an example, or draw a digit), "
                    "choose an architecture, and see what it predicts, what each layer sees and where it looked.")
        with gr.Tab("Explore"):
            with gr.Row():
                with gr.Column(scale=1):
                    image = SafeImage(label="Image", type="filepath", image_mode=None,
                                      sources=["upload", "webcam", "clipboard"], height=300)
                    gr.Examples(examples=examples, inputs=image, label="Examples (scikit-image, CC0)")
                    with gr.Accordion("Draw a digit (for the MNIST models)", open=False):
                        sketch = gr.Sketchpad(label="Sketch", type="numpy", image_mode="RGB",
                                              brush=gr.Brush(colors=["#ffffff"], default_size=18),
                                              value={"background": np.zeros((280, 280, 3), np.uint8),
                                                     "layers": [], "composite": None},
                                              canvas_size=(280, 280))
                        use_sketch = gr.Button("Use drawing")
                with gr.Column(scale=1):
                    model = gr.Dropdown(names, value=DEFAULT_MODEL, label="Architecture")
                    note = gr.Markdown()
                    status = gr.Markdown()
                    run = gr.Button("Explain", variant="primary")
                    label = gr.Label(num_top_classes=5, label="Predictions")
            with gr.Row():
                with gr.Column():
                    layer = gr.Dropdown(label="Feature-map layer", allow_custom_value=True)
                    maps = gr.Image(label="Channels, most active first", type="numpy", interactive=False)
                    maps_info = gr.Markdown()
                    stats = gr.Dataframe(label="Per-channel statistics", interactive=False)
                with gr.Column():
                    method = gr.Radio([(v, k) for k, v in METHOD_LABELS.items()], value="gradcam", label="Method")
                    cam_layer = gr.Dropdown(label="Grad-CAM layer", allow_custom_value=True)
                    target = gr.Dropdown([""], label="Class (blank = top-1)", value="", allow_custom_value=True)
                    with gr.Row():
                        opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Opacity")
                        smooth = gr.Checkbox(label="Noise tunnel (Integrated Gradients)")
                    slider = gr.ImageSlider(label="Before / after", type="numpy")
                    colorbar = gr.Image(label="Colour bar (top = strongest)", height=200, interactive=False)
                    caption = gr.Markdown()
        with gr.Tab("Compare"):
            gr.Markdown("One image through the history of CNNs: LeNet, AlexNet, VGG, GoogLeNet, ResNet, DenseNet.")
            chosen = gr.CheckboxGroup(names, value=[n for n in STORY if n in names], label="Architectures")
            compare_btn = gr.Button("Compare", variant="primary")
            gallery = gr.Gallery(label="Grad-CAM per architecture", columns=4)
            compare_table = gr.Dataframe(interactive=False)
        with gr.Tab("Train"):
            with gr.Row():
                with gr.Column():
                    t_model = gr.Dropdown(list_models(), value="lenet5_mnist", label="Architecture")
                    t_data = gr.Dropdown(list(BUILTIN), value="mnist", label="Data set (built in)")
                    t_archive = gr.File(label="...or your own zip / tar.gz of class folders",
                                        file_types=[".zip", ".gz", ".tgz"], type="filepath")
                    t_mode = gr.Radio([("from scratch", "scratch"), ("fine-tune all layers", "finetune"),
                                       ("new head on frozen features", "probe")], value="scratch", label="Mode")
                with gr.Column():
                    t_epochs = gr.Slider(1, 30, value=1, step=1, label="Epochs")
                    t_batch = gr.Slider(8, 512, value=128, step=8, label="Batch size")
                    t_lr = gr.Number(value=0.003, label="Learning rate")
                    t_budget = gr.Number(value=120, label=f"Time budget (s, 0 = the server's "
                                                          f"{limits.train_limit_s:.0f} s limit)")
                    t_per_class = gr.Number(value=500, label="Training images per class (0 = all)")
                    with gr.Row():
                        t_start = gr.Button("Start", variant="primary")
                        t_cancel = gr.Button("Cancel")
            t_progress = gr.Markdown()
            t_curves = gr.Plot(label="Loss and accuracy (train and test)")
            with gr.Row():
                t_confusion = gr.Plot(label="Confusion matrix (test)")
                t_wrong = gr.Gallery(label="Misclassified test images", columns=6, height=260)
            t_files = gr.File(label="Download the model (safetensors + JSON)", file_count="multiple")
        with gr.Tab("Architecture"):
            arch_model = gr.Dropdown(names, value=DEFAULT_MODEL, label="Architecture")
            arch_btn = gr.Button("Show layers")
            arch_totals = gr.Markdown()
            arch_table = gr.Dataframe(interactive=False)
            gr.Markdown(formulas_text())

        explain_inputs = [image, model]
        attr_inputs = [image, model, method, cam_layer, target, opacity, smooth]
        attr_outputs = [slider, colorbar, caption]
        # every explain event shares one pool of workers, so a burst of clicks cannot starve the server
        shared = {"concurrency_id": "explain", "concurrency_limit": limits.explain_concurrency}
        private = {"api_visibility": "private", **shared}
        model.change(model_changed, model, [layer, cam_layer, target, note], api_visibility="private")
        demo.load(model_changed, model, [layer, cam_layer, target, note], api_visibility="private")
        # .success: a refused image gives one message, not one per step
        run.click(predict, explain_inputs, [label, status], api_name="predict", **shared) \
            .success(feature_maps, [image, model, layer], [maps, maps_info, stats], api_name="feature_maps",
                     **shared) \
            .success(attribute, attr_inputs, attr_outputs, api_name="attribute", **shared)
        layer.input(feature_maps, [image, model, layer], [maps, maps_info, stats], **private)
        for control in (method, cam_layer, target, smooth):
            control.input(attribute, attr_inputs, attr_outputs, **private)
        opacity.release(attribute, attr_inputs, attr_outputs, **private)
        use_sketch.click(use_drawing, sketch, image, api_visibility="private")
        compare_btn.click(compare, [image, chosen], [gallery, compare_table], api_name="compare", **shared)
        arch_btn.click(architecture, arch_model, [arch_table, arch_totals], api_name="architecture")
        t_start.click(start_training, [t_model, t_data, t_archive, t_mode, t_epochs, t_batch, t_lr, t_budget,
                                       t_per_class],
                      [t_progress, t_curves, t_confusion, t_wrong, t_files, model],
                      api_name="train", concurrency_limit=1, concurrency_id="train")
        t_cancel.click(cancel_training, None, t_progress, api_name="cancel", queue=False)
        demo.queue(max_size=limits.queue_size, default_concurrency_limit=limits.explain_concurrency)
    return demo


def first_conv_worked(model, info) -> str:
    """The output-size and parameter formulas, filled in for the model's first convolution."""
    import torch.nn as nn
    from cnndemo.summary import conv_params, formula_text
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        return ""
    k, (cin, cout) = conv.kernel_size[0], (conv.in_channels, conv.out_channels)
    params = conv_params(conv.kernel_size, cin, cout, conv.bias is not None, conv.groups)
    return (f"First convolution on a {info.input_size[1]}-pixel input: `{formula_text(conv, info.input_size[1:])}`; "
            f"parameters `{k} x {k} x {cin // conv.groups} x {cout} + {cout if conv.bias is not None else 0}"
            f" = {params:,}`.")


def formulas_text() -> str:
    """Worked examples of the seed formulas, computed by cnndemo.summary (nothing typed in by hand)."""
    from cnndemo.summary import conv_output_size, conv_params, linear_params
    fc, conv = linear_params(1024 * 8 * 8, 10, bias=False), conv_params(1, 1024, 10)
    return f"""
### The two formulas every CNN student needs
**Output size** of a convolution or pooling layer: `out = (in - k + 2p) / s + 1` (rounded down).
AlexNet's first layer on a 256x256 image: `(256 - 11 + 2*2) / 4 + 1 = {conv_output_size(256, 11, 4, 2)}`.

**Parameters** of a convolution: `k x k x c_in x c_out + c_out` (weights plus one bias per kernel).
AlexNet's first layer: `11 x 11 x 3 x 64 + 64 = {conv_params(11, 3, 64):,}`.

**Why 1x1 convolutions save parameters** (GoogLeNet): mapping 1024 maps of 8x8 to 10 classes with a fully
connected layer takes `1024 x 8 x 8 x 10 = {fc:,}` weights; a 1x1 convolution takes
`1 x 1 x 1024 x 10 + 10 = {conv:,}`, {fc / conv:.0f} times fewer.
"""


if __name__ == "__main__":
    logs.configure()
    build_demo().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), **launch_options())
