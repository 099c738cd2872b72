"""The Train tab: train a registered architecture on a built-in data set or an uploaded archive, live."""
from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from cnndemo import logs
from cnndemo.data import BUILTIN, DataSettings, load_splits
from cnndemo.models import list_models
from cnndemo.serving import FileFlag, ServingLimits
from cnndemo.train import TrainConfig, train
from cnndemo.train.view import TrainView
from cnndemo.zoo import Zoo

from .components import model_choices
from .context import AppContext
from .errors import user_errors_stream

REFRESH_S = 0.5  # how often the Train tab redraws during a run
RUNS = Path(os.environ.get("CNNDEMO_RUNS", Path(tempfile.gettempdir()) / "cnndemo-runs"))
MODES = [("from scratch", "scratch"), ("fine-tune all layers", "finetune"), ("new head on frozen features", "probe")]


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


def offer_run(ctx: AppContext, checkpoint: str) -> tuple[list[str], dict]:
    """Register a finished run as a model (fresh in the cache): its files, and the Explore model picker on it."""
    run_name = ctx.zoo.add_run(checkpoint, Path(checkpoint).stem)
    ctx.cache.drop(run_name)  # never serve an earlier model under this name
    files = [checkpoint, str(Path(checkpoint).with_suffix(".json"))]
    return files, gr.update(choices=model_choices(ctx.zoo), value=run_name)


def _stream(ctx: AppContext, run: str, config: TrainConfig, data, messages):
    """The tab's outputs as a run goes: after every message but steps, which come too fast to draw each."""
    view, device, shown, explore = TrainView(data), None, 0.0, gr.update()
    for message in messages:
        device = log_training(message, run, config.model, device)
        view.update(message)
        if message["kind"] == "done" and message.get("checkpoint"):
            view.files, explore = offer_run(ctx, message["checkpoint"])
        if message["kind"] != "step" or time.monotonic() - shown > REFRESH_S:
            shown = time.monotonic()
            yield (*view.outputs(), explore)


def trainer(ctx: AppContext, stops: dict[str, FileFlag]):
    """The /train event of this app: one run per click, its cancel flag kept per browser session in stops."""
    gpu_training = on_gpu(run_training, duration=lambda config, data, stop: int(config.time_budget_s or 60) + 60)

    @user_errors_stream("train", model_arg=0)
    def start_training(name, dataset, archive, mode, epochs, batch_size, lr, budget, per_class,
                       request: gr.Request):
        """Stream one training run: curves, progress, then confusion matrix, mistakes and the checkpoint."""
        run = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"  # unique: no run is ever overwritten
        stop = stops[request.session_hash] = FileFlag(RUNS / f".{run}.stop")
        try:
            config = train_config(name, archive or dataset, mode, epochs, batch_size, lr, budget, per_class, run,
                                  ctx.limits)
            data = load_splits(config.dataset, DataSettings(limit_per_class=config.limit_per_class,
                                                            test_limit_per_class=config.test_limit_per_class))
            yield from _stream(ctx, run, config, data, gpu_training(config, data, stop))
        finally:
            stop.clear()
            if stops.get(request.session_hash) is stop:
                del stops[request.session_hash]
    return start_training


def canceller(stops: dict[str, FileFlag]):
    """The /cancel event of this app."""
    def cancel_training(request: gr.Request):
        """Ask this session's run to stop after the current step (the best checkpoint is kept)."""
        stop = stops.get(request.session_hash)
        if stop:
            stop.set()
        return "Stopping after the current step..."
    return cancel_training


def _settings(limits: ServingLimits, zoo: Zoo) -> dict:
    """The run's settings: model, data, mode and the numbers, with the Start and Cancel buttons."""
    with gr.Row():
        with gr.Column():
            registry = set(list_models())  # runs trained here are not architectures to train again
            model = gr.Dropdown([c for c in model_choices(zoo) if c[1] in registry], value="lenet5_mnist",
                                label="Architecture")
            data = gr.Dropdown(list(BUILTIN), value="mnist", label="Data set (built in)")
            archive = gr.File(label="...or your own zip / tar.gz of class folders",
                              file_types=[".zip", ".gz", ".tgz"], type="filepath")
            mode = gr.Radio(MODES, value="scratch", label="Mode")
        with gr.Column():
            epochs = gr.Slider(1, 30, value=1, step=1, label="Epochs")
            batch = gr.Slider(8, 512, value=128, step=8, label="Batch size")
            lr = gr.Number(value=0.003, label="Learning rate")
            budget = gr.Number(value=120, label=f"Time budget (s, 0 = the server's {limits.train_limit_s:.0f} s limit)")
            per_class = gr.Number(value=500, label="Training images per class (0 = all)")
            with gr.Row():
                start, cancel = gr.Button("Start", variant="primary"), gr.Button("Cancel")
    return {"model": model, "data": data, "archive": archive, "mode": mode, "epochs": epochs, "batch": batch,
            "lr": lr, "budget": budget, "per_class": per_class, "start": start, "cancel": cancel}


def _results() -> dict:
    """Progress line, curves, confusion matrix, mistakes and the checkpoint download."""
    progress = gr.Markdown()
    curves = gr.Plot(label="Loss and accuracy (train and test)")
    with gr.Row():
        confusion = gr.Plot(label="Confusion matrix (test)")
        wrong = gr.Gallery(label="Misclassified test images", columns=6, height=260)
    files = gr.File(label="Download the model (safetensors + JSON)", file_count="multiple")
    return {"progress": progress, "curves": curves, "confusion": confusion, "wrong": wrong, "files": files}


def build(ctx: AppContext) -> None:
    """The Train tab; a finished run becomes a model and is picked in the Explore tab (ctx.components["model"])."""
    with gr.Tab("Train"):
        ui = SimpleNamespace(**_settings(ctx.limits, ctx.zoo), **_results())
    stops: dict[str, FileFlag] = {}  # one cancel flag per browser session
    inputs = [ui.model, ui.data, ui.archive, ui.mode, ui.epochs, ui.batch, ui.lr, ui.budget, ui.per_class]
    outputs = [ui.progress, ui.curves, ui.confusion, ui.wrong, ui.files, ctx.components["model"]]
    ui.start.click(trainer(ctx, stops), inputs, outputs, api_name="train", concurrency_limit=1,
                   concurrency_id="train")
    ui.cancel.click(canceller(stops), None, ui.progress, api_name="cancel", queue=False)
