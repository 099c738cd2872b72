"""The class builder inside the Train tab: name 2 to 10 classes, add pictures (several uploads at once, webcam
snapshots, sketches), see thumbnails and counts, remove a picture, then train a new head on frozen features.

The set lives on the server per browser session (ui.sessions); every picture enters through ClassSet, that is
through cnndemo.images' safe loader. /train_classes does the same for a script: class names and their files.
"""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import gradio as gr

from cnndemo.data import ClassSet, ClassSetLimits
from cnndemo.errors import BadInputError
from cnndemo.outputs import image_file
from cnndemo.train import CLASS_SET_RECIPE, DEFAULT_LR, TrainConfig

from .components import SafeImage, SafeSketchpad, drawing_pixels
from .context import AppContext, guarded

# Epochs a class set trains for in each mode: cached features make 60 probe epochs cheap; fine-tuning pays a
# forward and backward per picture per epoch (8 epochs: bench/class_builder.py --finetune-sweep).
EPOCHS = {"probe": CLASS_SET_RECIPE.epochs, "finetune": 8, "scratch": 15}
MODES = [("new head on frozen features (fast)", "probe"), ("fine-tune all layers", "finetune"),
         ("from scratch", "scratch")]
INTRO = ("### Teach your own classes\nName your classes, add a few pictures to each (upload several at once, take "
         "webcam snapshots or sketch), then train. About a fifth of each class is held out to test the model. "
         "For a bigger set, upload a zip of class folders under *Built-in data sets and archives* below.")


def parse_names(text: str) -> list[str]:
    """Class names from one line of text, separated by commas (or one per line)."""
    return [n.strip() for n in str(text or "").replace("\n", ",").split(",") if n.strip()]


def class_set_config(mode: str, epochs, lr, run_name: str, out: str, budget_s: float) -> TrainConfig:
    """CLASS_SET_RECIPE with the builder's choices: mode, epochs and learning rate (0 or None: the mode's), name."""
    if mode not in EPOCHS:
        raise BadInputError(f"mode must be one of {', '.join(EPOCHS)}, not {mode!r}")
    return replace(CLASS_SET_RECIPE, mode=mode, epochs=int(epochs or EPOCHS[mode]), lr=float(lr) if lr else None,
                   run_name=str(run_name or "").strip(), out=out, time_budget_s=budget_s)


def class_set_from_files(names: str, groups: list, limits: ClassSetLimits) -> tuple[ClassSet, list[str]]:
    """A ClassSet of these names with group i's files in class i, and a sentence per refused picture."""
    classes = parse_names(names)
    extra = [i for i, g in enumerate(groups) if g and i >= len(classes)]
    if extra:
        raise BadInputError(f"pictures were given for class {extra[0] + 1}, but only {len(classes)} class names; "
                            "name every class that has pictures")
    class_set, refused = ClassSet(classes, limits), []
    for name, files in zip(class_set.classes, groups):
        refused += class_set.add(name, [getattr(f, "name", f) for f in (files or [])]).refused
    return class_set, refused


def counts_text(class_set: ClassSet) -> str:
    """'**cats** 12 · **dogs** 8 pictures': the count of every class."""
    counts = class_set.counts()
    return " · ".join(f"**{c}** {n}" for c, n in counts.items()) + f" pictures ({sum(counts.values())} in all)"


def thumbnails(class_set: ClassSet, name: str) -> list[tuple[str, str]]:
    """(picture file, its number) for every picture of one class, as the set keeps them (160 px squares)."""
    if name not in class_set.classes:
        return []
    return [(image_file(p.pixels), str(i + 1)) for i, p in enumerate(class_set.pictures(name))]


def view_of(class_set: ClassSet, name: str, status: str) -> tuple:
    """(class radio, counts, thumbnails, status): what the builder shows after any change."""
    name = name if name in class_set.classes else class_set.classes[0]
    return (gr.update(choices=list(class_set.classes), value=name), counts_text(class_set),
            gr.update(value=thumbnails(class_set, name), label=f"Pictures of {name} (click one to select it)"),
            status)


def added_text(name: str, result) -> str:
    """What an add did: how many went in, and the sentence of each refused picture."""
    text = f"Added {result.added} picture{'s' * (result.added != 1)} to **{name}**."
    return text + "".join(f"  \n{r}" for r in result.refused)


@guarded("class_names", model_arg=None, timed=False)
def class_names(ctx: AppContext, names: str, name: str, request: gr.Request):
    """Use these class names; a class whose name stays keeps its pictures."""
    s = ctx.sessions.get(request.session_hash)
    with s.lock:
        s.class_set = s.class_set.with_classes(parse_names(names))
        return view_of(s.class_set, name, f"Classes: {', '.join(s.class_set.classes)}.")


@guarded("class_add", model_arg=None, timed=False)
def class_add(ctx: AppContext, name: str, sources: list, request: gr.Request):
    """Add uploaded pictures to a class."""
    return add_pictures(ctx, name, sources, request)


@guarded("class_snapshot", model_arg=None, timed=False)
def class_snapshot(ctx: AppContext, name: str, picture, request: gr.Request):
    """Add the webcam snapshot to a class (none taken yet is refused with a hint)."""
    if picture is None:
        raise BadInputError("take a snapshot with the webcam first")
    return add_pictures(ctx, name, [picture], request)


@guarded("class_sketch", model_arg=None, timed=False)
def class_sketch(ctx: AppContext, name: str, sketch, request: gr.Request):
    """Add the sketchpad's drawing to a class (a blank canvas is refused with a hint)."""
    picture = drawing_pixels(sketch)
    if picture is None:
        raise BadInputError("draw something on the sketchpad first")
    return add_pictures(ctx, name, [picture], request)


def add_pictures(ctx: AppContext, name: str, sources: list, request: gr.Request) -> tuple:
    """Add pictures to a class of this session's set (refused ones get a sentence; the rest are kept)."""
    s = ctx.sessions.get(request.session_hash)
    with s.lock:
        return view_of(s.class_set, name, added_text(name, s.class_set.add(name, sources)))


def class_show(ctx: AppContext, name: str, request: gr.Request):
    """The thumbnails and counts of a class."""
    return view_of(ctx.sessions.get(request.session_hash).class_set, name, "")


@guarded("class_remove", model_arg=None, timed=False)
def class_remove(ctx: AppContext, name: str, index, request: gr.Request):
    """Remove the selected picture of a class."""
    if index is None:
        raise BadInputError("click a picture first, then remove it")
    s = ctx.sessions.get(request.session_hash)
    with s.lock:
        s.class_set.remove(name, int(index))
        return view_of(s.class_set, name, f"Removed picture {int(index) + 1} of **{name}**.")


def _inputs() -> dict:
    """The three ways in: several uploads at once, a webcam snapshot, a sketch."""
    with gr.Tabs():
        with gr.Tab("Upload"):
            uploads = gr.File(label="Pictures (choose several at once)", file_count="multiple", type="filepath",
                              file_types=["image"], height=140, elem_id="class-uploads")
        with gr.Tab("Webcam"):
            snap = SafeImage(label="Snapshot", type="filepath", sources=["webcam"], height=200)
            add_snap = gr.Button("Add the snapshot")
        with gr.Tab("Sketch"):
            sketch = SafeSketchpad(label="Sketch", type="filepath", canvas_size=(200, 200), elem_id="class-sketch",
                                  brush=gr.Brush(colors=["#000000", "#d62728", "#1f77b4"], default_size=8))
            add_sketch = gr.Button("Add the sketch")
    return {"uploads": uploads, "snap": snap, "add_snap": add_snap, "sketch": sketch, "add_sketch": add_sketch}


def _training() -> dict:
    """How the set trains: mode (fast by default), epochs, learning rate, and the button."""
    with gr.Row(equal_height=True):
        mode = gr.Radio(MODES, value=CLASS_SET_RECIPE.mode, label="How to learn", scale=3)
        epochs = gr.Number(value=EPOCHS[CLASS_SET_RECIPE.mode], precision=0, minimum=1, maximum=200,
                           label="Epochs", scale=1, min_width=90)
        lr = gr.Number(value=DEFAULT_LR[CLASS_SET_RECIPE.mode], label="Learning rate", scale=1, min_width=90)
        train = gr.Button("Train on my classes", variant="primary", scale=1, elem_id="train-classes")
    return {"cs_mode": mode, "cs_epochs": epochs, "cs_lr": lr, "cs_train": train}


def _api_inputs(limits: ClassSetLimits) -> dict:
    """Hidden inputs of /train_classes: class names, one list of files per class, mode, epochs and learning rate
    (left out: the mode's own epochs and learning rate)."""
    with gr.Column(visible=False):
        names = gr.Textbox(label="class_names")
        groups = [gr.File(file_count="multiple", type="filepath", label=f"pictures_{i + 1}")
                  for i in range(limits.max_classes)]
        mode = gr.Textbox(CLASS_SET_RECIPE.mode, label="mode")
        epochs = gr.Number(None, precision=0, label="epochs")
        lr = gr.Number(None, label="lr")
        run_name = gr.Textbox("", label="run_name")
        button = gr.Button("train_classes")
    return {"api_names": names, "api_groups": groups, "api_mode": mode, "api_epochs": epochs, "api_lr": lr,
            "api_run_name": run_name, "api_train": button}


def build(ctx: AppContext) -> SimpleNamespace:
    """The builder's components, laid out where it is called (inside the Train tab), with its edit events wired."""
    classes = list(ctx.sessions.get(None).class_set.classes)  # the default names every session starts from
    with gr.Group(elem_id="class-builder"):
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            names = gr.Textbox(", ".join(classes), label="Class names (2 to 10, separated by commas)", scale=4)
            rename = gr.Button("Use these classes", scale=1)
        with gr.Row():
            with gr.Column(scale=1):
                target = gr.Radio(classes, value=classes[0], label="Add pictures to")
                ins = _inputs()
            with gr.Column(scale=1):
                counts = gr.Markdown(f"**{classes[0]}** 0 · **{classes[1]}** 0 pictures (0 in all)")
                thumbs = gr.Gallery(label=f"Pictures of {classes[0]}", columns=6, height=200, allow_preview=False,
                                    elem_id="class-thumbs")
                remove = gr.Button("Remove the selected picture", size="sm")
                status = gr.Markdown(elem_id="class-status")
        ui = SimpleNamespace(names=names, rename=rename, target=target, counts=counts, thumbs=thumbs,
                             remove=remove, status=status, selected=gr.State(None), **ins, **_training(),
                             **_api_inputs(ctx.sessions.limits))
    _wire(ctx, ui)
    return ui


def _wire(ctx: AppContext, ui: SimpleNamespace) -> None:
    """Every edit redraws the class radio, counts, thumbnails and status line; errors become a sentence there."""
    shown = [ui.target, ui.counts, ui.thumbs, ui.status]
    private = {"api_visibility": "private"}
    ui.rename.click(ctx.bind(class_names), [ui.names, ui.target], shown, **private)
    ui.uploads.upload(ctx.bind(class_add), [ui.target, ui.uploads], shown, **private) \
        .then(lambda: None, None, ui.uploads, **private)
    ui.add_snap.click(ctx.bind(class_snapshot), [ui.target, ui.snap], shown, **private)
    ui.add_sketch.click(ctx.bind(class_sketch), [ui.target, ui.sketch], shown, **private)
    ui.target.change(ctx.bind(class_show), ui.target, shown, **private) \
        .then(lambda: None, None, ui.selected, **private)
    ui.thumbs.select(selected_index, None, ui.selected, **private)
    ui.remove.click(ctx.bind(class_remove), [ui.target, ui.selected], shown, **private) \
        .then(lambda: None, None, ui.selected, **private)
    ui.cs_mode.change(lambda m: (DEFAULT_LR[m], EPOCHS[m]), ui.cs_mode, [ui.cs_lr, ui.cs_epochs], **private)


def selected_index(evt: gr.SelectData) -> int:
    """The index of the thumbnail clicked."""
    return int(evt.index)
