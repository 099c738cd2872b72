"""The Train tab: teach your own classes (the class builder), or train a registered architecture on a built-in
data set (shapes by default: drawn by code, so it works offline) or an uploaded archive, live.

Every run is this browser session's: its run list and mistakes view show its own runs, while the model it makes
joins the shared Explore picker under the run's name plus a unique suffix. A refused or failed run says so in the
progress area; curves, matrix and galleries keep what they showed.
"""
from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from cnndemo import logs
from cnndemo.data import DATASETS, DataSettings, load_splits
from cnndemo.export import export_checkpoint
from cnndemo.models import list_models
from cnndemo.serving import FileFlag, ServingLimits
from cnndemo.train import CLASS_SET_RECIPE, DEFAULT_LR, SHAPES_RECIPE, TrainConfig
from cnndemo.train import train as train_model
from cnndemo.train.messages import Done, Epoch, Message, Start
from cnndemo.train.parts import dataset_label
from cnndemo.train.view import TrainView
from cnndemo.zoo import Zoo

from . import classbuilder, mistakes
from .components import model_choices
from .context import AppContext, guarded
from .errors import errors_in_progress
from .sessions import RunRecord, Sessions

REFRESH_S = 0.5  # how often the Train tab redraws during a run
RUNS = Path(os.environ.get("CNNDEMO_RUNS", Path(tempfile.gettempdir()) / "cnndemo-runs"))
MODES = [("from scratch", "scratch"), ("fine-tune all layers", "finetune"), ("new head on frozen features", "probe")]
N_OUTPUTS = 9  # progress, curves, confusion, mistakes gallery, files, Explore's model, run, true and predicted class


def on_gpu(fn, duration):
    """fn under ZeroGPU's spaces.GPU when the `spaces` package is importable (a Hugging Face Space); else fn."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn)


def run_training(config: TrainConfig, data, stop: FileFlag, features=None):
    """The trainer's messages for one run (the part that needs a GPU; under ZeroGPU it runs in a GPU worker)."""
    yield from train_model(config, data, stop, features=features)


def gpu_runner():
    """run_training, under ZeroGPU for the run's time budget plus a minute."""
    return on_gpu(run_training, duration=lambda config, *a, **k: int(config.time_budget_s or 60) + 60)


GPU_TRAINING = gpu_runner()  # made once, when the app starts (ZeroGPU wants its functions known by then)


def train_config(name, dataset, mode, epochs, batch_size, lr, budget, per_class, run: str,
                 limits: ServingLimits, run_name: str = "") -> TrainConfig:
    """The run's settings from the Train tab; the time budget never exceeds the server's training limit."""
    budget_s = min(float(budget or 0) or limits.train_limit_s, limits.train_limit_s)
    return TrainConfig(model=name, dataset=dataset, mode=mode, epochs=int(epochs), batch_size=int(batch_size),
                       lr=float(lr) if lr else None, time_budget_s=budget_s,
                       limit_per_class=int(per_class or 0) or None, test_limit_per_class=200 if per_class else None,
                       out=str(RUNS / run), run_name=str(run_name or "").strip())


def run_id(model: str) -> str:
    """A run's file stem: unique, so no run is ever overwritten (the user's name for it is never a path)."""
    return f"{model}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def run_label(config: TrainConfig) -> str:
    """The run's model name in Explore: the user's name (or model and data) and the run's unique suffix."""
    suffix = Path(config.out).name.rsplit("-", 1)[-1]
    return f"{config.run_name or f'{config.model} on {dataset_label(config.dataset)}'} #{suffix}"


def log_training(message: Message, run: str, model: str, device: str | None) -> str | None:
    """One log line per epoch and at the start and end of a run; returns the run's device once known."""
    device = getattr(message, "device", device)
    if isinstance(message, Epoch):
        logs.log_epoch(message, run=run, model=model, device=device or "?")
    elif isinstance(message, (Start, Done)):
        kind = "start" if isinstance(message, Start) else "done"
        extra = ({"n_train": message.n_train} if kind == "start" else
                 {"reason": message.reason, "metrics": {k: v for k, v in message.metrics.items()
                                                        if not isinstance(v, (list, dict))},
                  "checkpoint": message.checkpoint})
        logs.log_run(kind, run=run, model=model, device=device or "?", **extra)
    return device


def offer_run(ctx: AppContext, checkpoint: str, label: str, key: str | None = None) -> tuple[dict, str]:
    """Register a finished run as a model of session key (fresh in the cache): the Explore picker on it, and its
    name. Its files reach Gradio's cache only when someone asks for them (/download_run, /export_onnx)."""
    name = ctx.zoo.add_run(checkpoint, label, owner=key)
    ctx.cache.drop(name)  # never serve an earlier model under this name
    return gr.update(choices=model_choices(ctx.zoo, key), value=name), name


def checkpoint_files(checkpoint: str) -> list[str]:
    """A run's downloads: its safetensors file and its JSON sidecar."""
    return [checkpoint, str(Path(checkpoint).with_suffix(".json"))]


class Streamer:
    """Turns one run's messages into the tab's outputs, and files the finished run with its session."""

    def __init__(self, ctx: AppContext, sessions: Sessions, key: str | None, config: TrainConfig, data,
                 notes: list[str] = ()) -> None:
        self.ctx, self.sessions, self.key, self.config, self.data = ctx, sessions, key, config, data
        self.view, self.matrix = TrainView(data), None
        self.view.notes = list(notes)
        self.extra = (gr.update(),) * 4  # Explore's model and the mistakes pickers: changed once the run ends

    def stream(self, messages):
        """The outputs at the start, at the end and every REFRESH_S between: steps and the epochs of a run on
        cached features come too fast to draw each (drawing 60 epochs' figures took 15 s of a 17 s run)."""
        device, shown, run = None, 0.0, Path(self.config.out).name
        for message in messages:
            device = log_training(message, run, self.config.model, device)
            self.view.update(message)
            self.matrix = message.confusion_matrix if isinstance(message, Epoch) else self.matrix
            if isinstance(message, Done) and message.checkpoint:
                self._finish(message.checkpoint)
            if isinstance(message, (Start, Done)) or time.monotonic() - shown > REFRESH_S:
                shown = time.monotonic()
                yield (*self.view.outputs(), *self.extra)

    def _finish(self, checkpoint: str) -> None:
        """Offer the model in Explore, keep the run for this session, point the mistakes view at it."""
        explore, name = offer_run(self.ctx, checkpoint, run_label(self.config), self.key)
        record = RunRecord(name, checkpoint, self.data.test, name.removeprefix("run: "))
        self.sessions.add_run(self.key, record)
        self.extra = (explore, *mistakes.picker_updates(self.sessions, self.key, record, self.matrix))


@errors_in_progress("train", N_OUTPUTS, model_arg=1)
def train(ctx: AppContext, name, dataset, archive, mode, epochs, batch_size, lr, budget, per_class, run_name="",
          request: gr.Request = None):
    """Stream one training run: curves, progress, then confusion matrix, mistakes and the checkpoint."""
    run = run_id(name)
    with stop_flag(ctx.stops, request, run) as stop:
        config = train_config(name, archive or dataset, mode, epochs, batch_size, lr, budget, per_class, run,
                              ctx.limits, run_name)
        data = load_splits(config.dataset, DataSettings(limit_per_class=config.limit_per_class,
                                                        test_limit_per_class=config.test_limit_per_class))
        streamer = Streamer(ctx, ctx.sessions, request.session_hash, config, data)
        yield from streamer.stream(GPU_TRAINING(config, data, stop))


class stop_flag:
    """This session's cancel flag for one run, cleared and forgotten when the run ends."""

    def __init__(self, stops: dict[str, FileFlag], request: gr.Request, run: str) -> None:
        self.stops, self.key = stops, request.session_hash
        self.flag = stops[self.key] = FileFlag(RUNS / f".{run}.stop")

    def __enter__(self) -> FileFlag:
        return self.flag

    def __exit__(self, *exc) -> None:
        self.flag.clear()
        if self.stops.get(self.key) is self.flag:
            del self.stops[self.key]


@errors_in_progress("train_my_classes", N_OUTPUTS)
def train_my_classes(ctx: AppContext, mode, epochs, lr, run_name, request: gr.Request):
    """The class builder's Train button: a run on the classes built in this session, on its feature cache, with
    CLASS_SET_RECIPE (a set too small to split says so)."""
    session = ctx.sessions.get(request.session_hash)
    with session.lock:
        data = session.class_set.splits()
    yield from class_set_run(ctx, request, data, (mode, epochs, lr, run_name))


def class_set_run(ctx: AppContext, request: gr.Request, data, settings: tuple, notes: list[str] = ()):
    """Stream one run on a class set's splits, on this session's feature cache; settings: mode, epochs, lr, name."""
    run = run_id(CLASS_SET_RECIPE.model)
    config = classbuilder.class_set_config(*settings, str(RUNS / run), ctx.limits.train_limit_s)
    features = ctx.sessions.get(request.session_hash).features  # one session, one cache: retraining is cheap
    with stop_flag(ctx.stops, request, run) as stop:
        streamer = Streamer(ctx, ctx.sessions, request.session_hash, config, data, notes)
        yield from streamer.stream(GPU_TRAINING(config, data, stop, features))


@errors_in_progress("train_classes", N_OUTPUTS)
def train_classes(ctx: AppContext, class_names: str, pictures_1=None, pictures_2=None, pictures_3=None,
                  pictures_4=None, pictures_5=None, pictures_6=None, pictures_7=None, pictures_8=None,
                  pictures_9=None, pictures_10=None, mode: str = "probe", epochs: int | None = None,
                  lr: float | None = None, run_name: str = "", request: gr.Request = None):
    """Train on class_names (separated by commas) with pictures_i the files of class i; refused pictures
    are named in the progress text and the others are used."""
    groups = [pictures_1, pictures_2, pictures_3, pictures_4, pictures_5, pictures_6, pictures_7, pictures_8,
              pictures_9, pictures_10]
    class_set, refused = classbuilder.class_set_from_files(class_names, groups, ctx.sessions.limits)
    yield from class_set_run(ctx, request, class_set.splits(), (mode, epochs, lr, run_name), refused)


@guarded("download_run", model_arg=1, timed=False)
def download_run(ctx: AppContext, model: str, request: gr.Request):
    """safetensors + JSON of one of this session's runs (a frozen-feature run: its head and a reference), handed
    to the browser only now that it asks."""
    if not model:
        return gr.skip()
    return checkpoint_files(ctx.sessions.run(model, request.session_hash, "downloads are offered for").checkpoint)


@guarded("export_onnx", model_arg=1, timed=False)
def export_onnx(ctx: AppContext, model: str, request: gr.Request):
    """safetensors + JSON + ONNX of one of this session's runs (torch.onnx traces it: some seconds)."""
    if not model:
        return gr.skip()
    checkpoint = ctx.sessions.run(model, request.session_hash, "ONNX export takes").checkpoint
    return [*checkpoint_files(checkpoint), str(export_checkpoint(checkpoint))]


def cancel(ctx: AppContext, request: gr.Request):
    """Ask this session's run to stop after the current step (the best checkpoint is kept)."""
    stop = ctx.stops.get(request.session_hash)
    if stop:
        stop.set()
    return "Stopping after the current step..."


def data_used(archive) -> dict:
    """The data set picker says when an uploaded archive is what a run really trains on."""
    if archive:
        return gr.update(interactive=False, info=f"not used: your archive {Path(archive).name} is")
    return gr.update(interactive=True, info="drawn by code or read from the data folder")


def _settings(limits: ServingLimits, zoo: Zoo) -> dict:
    """A built-in data set's run (shapes: works offline): model, data, mode, the numbers and Start."""
    with gr.Accordion("Built-in data sets and archives", open=True), gr.Row():
        with gr.Column():
            registry = set(list_models())  # runs trained here are not architectures to train again
            model = gr.Dropdown([c for c in model_choices(zoo) if c[1] in registry], value=SHAPES_RECIPE.model,
                                label="Architecture")
            data = gr.Dropdown(list(DATASETS), value=SHAPES_RECIPE.dataset, label="Data set (built in)",
                               info="drawn by code or read from the data folder")
            archive = gr.File(label="...or your own zip / tar.gz of class folders",
                              file_types=[".zip", ".gz", ".tgz"], type="filepath", height=100)
            mode = gr.Radio(MODES, value=SHAPES_RECIPE.mode, label="Mode")
        with gr.Column():
            epochs = gr.Slider(1, 30, value=SHAPES_RECIPE.epochs, step=1, label="Epochs", elem_id="train-epochs")
            batch = gr.Slider(8, 512, value=SHAPES_RECIPE.batch_size, step=8, label="Batch size")
            lr = gr.Number(value=SHAPES_RECIPE.learning_rate, label="Learning rate")
            budget = gr.Number(value=120, label=f"Time budget (s, 0 = the server's {limits.train_limit_s:.0f} s limit)")
            per_class = gr.Number(value=0, precision=0, label="Training images per class (0 = all)",
                                  elem_id="train-per-class")
            start = gr.Button("Start", variant="primary")
    return {"model": model, "data": data, "archive": archive, "mode": mode, "epochs": epochs, "batch": batch,
            "lr": lr, "budget": budget, "per_class": per_class, "start": start}


def _results() -> dict:
    """The run's name and Cancel, progress text, curves, confusion matrix, mistakes and the downloads."""
    with gr.Row(equal_height=True):
        run_name = gr.Textbox("", label="Name this run (optional)", max_length=60, scale=4, elem_id="run-name")
        cancel = gr.Button("Cancel", scale=1)
    progress = gr.Markdown(label="Progress", elem_id="train-progress")
    curves = gr.Plot(label="Loss and accuracy (train and test)")
    with gr.Row():
        confusion = gr.Plot(label="Confusion matrix (test)")
        wrong = gr.Gallery(label="Misclassified test images", columns=6, height=260)
    with gr.Row(equal_height=True):
        files = gr.File(label="Download the model (safetensors + JSON)", file_count="multiple", scale=4)
        download = gr.Button("Download", scale=1)
        onnx = gr.Button("Also as ONNX", scale=1)
    return {"run_name": run_name, "cancel": cancel, "progress": progress, "curves": curves, "confusion": confusion,
            "wrong": wrong, "files": files, "download": download, "onnx": onnx}


def build(ctx: AppContext) -> None:
    """The Train tab; a finished run becomes a model and is picked in the Explore tab (ctx.inputs.model)."""
    with gr.Tab("Train"):
        builder = classbuilder.build(ctx)
        ui = SimpleNamespace(**_settings(ctx.limits, ctx.zoo), **_results())
        found = mistakes.build()
    _wire(ctx, builder, ui, found)


def _wire(ctx: AppContext, builder, ui, found) -> None:
    """Both kinds of run stream into the same outputs (one at a time); the mistakes view follows the last run."""
    outputs = [ui.progress, ui.curves, ui.confusion, ui.wrong, ui.files, ctx.inputs.model, found.run,
               found.true, found.predicted]
    mistakes.wire(ctx, found)  # first, so that /mistakes keeps its name (the runs below call it privately too)
    one = {"concurrency_limit": 1, "concurrency_id": "train"}
    then = ([found.run, found.true, found.predicted], [found.gallery, found.caption])
    inputs = [ui.model, ui.data, ui.archive, ui.mode, ui.epochs, ui.batch, ui.lr, ui.budget, ui.per_class,
              ui.run_name]
    show = ctx.bind(mistakes.mistakes)
    ui.start.click(ctx.bind(train), inputs, outputs, api_name="train", **one) \
        .then(show, *then, api_visibility="private", **ctx.shared)
    builder_inputs = [builder.cs_mode, builder.cs_epochs, builder.cs_lr, ui.run_name]
    builder.cs_train.click(ctx.bind(train_my_classes), builder_inputs, outputs, api_visibility="private", **one) \
        .then(show, *then, api_visibility="private", **ctx.shared)
    api_inputs = [builder.api_names, *builder.api_groups, builder.api_mode, builder.api_epochs, builder.api_lr,
                  builder.api_run_name]
    builder.api_train.click(ctx.bind(train_classes), api_inputs, outputs, api_name="train_classes", **one)
    ui.cancel.click(ctx.bind(cancel), None, ui.progress, api_name="cancel", queue=False)
    ui.download.click(ctx.bind(download_run), found.run, ui.files, api_name="download_run", **ctx.shared)
    ui.onnx.click(ctx.bind(export_onnx), found.run, ui.files, api_name="export_onnx", **ctx.shared)
    ui.mode.change(lambda m: DEFAULT_LR[m], ui.mode, ui.lr, api_visibility="private", queue=False)
    ui.archive.change(data_used, ui.archive, ui.data, api_visibility="private", queue=False)
