"""The "What it learnt" tab: what a trained network has learnt, in four views over cnndemo.insight (which does the
work; this module lays it out and wires the events).

1. What a channel looks for: the picture that most excites each of several channels (or classes), streamed as it
   forms (/visualize_channels).
2. Its favourite pictures: a channel's strongest pictures in a data set and the patch of each it sees, beside the
   channel's own picture, as OpenAI Microscope showed them (/dataset_examples).
3. The feature space: a data set mapped by what the network makes of it, the student's picture placed on it, its
   nearest pictures in feature space beside those in pixel space (/feature_space).
4. Fool the network: FGSM or PGD on the student's picture, before and after (/fool).

Only models with trained weights are offered (an untrained network has learnt nothing). The long work (an
optimisation, a pass over a data set, a map) runs in its own queue ("insight") beside the explain pool.
"""
from __future__ import annotations

import functools
import re
import threading
import time
from types import SimpleNamespace

import gradio as gr
from PIL import Image

from cnndemo import BadInputError, catalog
from cnndemo.data import DATASETS, is_local
from cnndemo.explain import Explainer
from cnndemo.insight import examples as ex
from cnndemo.insight import featurespace as fs
from cnndemo.insight import fool as attacks
from cnndemo.insight.display import enlarged, example_tile
from cnndemo.insight.visualize import (DEFAULT_STEPS, MAX_STEPS, MAX_UNITS, MIN_STEPS, Objective, Visualization,
                                       VisualizeSettings, VizCancelled, VizDone, VizProgress, visualize)
from cnndemo.models import Readiness
from cnndemo.outputs import image_file, named_file

from .common import DEFAULT_MODEL, decoded, heat_files, knows_sentence, loading_progress
from .context import AppContext, guarded
from .errors import errors_in_progress
from .learn import shapes_of
from .train import data_used

TAB = "What it learnt"
NO_IMAGE = "This view uses the Explore tab's image: upload a photo, pick an example or draw a digit there first."
MY_CLASSES = "my classes"  # the data-set choice that means this session's class-builder pictures
SHOWN_SIDE = 256  # synthesised and attacked pictures are enlarged (whole factor) to at least this many pixels
EXAMPLES = ex.ExampleSettings(k=8)  # the dataset examples' pass: 8 per channel (two rows of four) over <= 2,000
SPACE = fs.SpaceSettings(k=6)  # the map: 2,000 pictures; 6 neighbours each side, so every one is shown large
MAP_INCHES = (5.6, 4.4)  # the map drawn at the size it is shown (5/11 of 1280 px), so its words are legible
MAX_CHANNEL = 4095  # the channel slider's bound until a layer is picked (the API keeps it: a layer says its own)
VIZ_OUTPUTS = 4  # status, gallery, caption, the finished visualisation (kept for the Microscope view)
INTRO = ("## What has the network learnt?\nFour views of a trained network from the inside. The image is the "
         "Explore tab's; the model follows Explore's when that one is trained. Only trained models are offered: "
         "an untrained network has learnt nothing to show.")
PLAIN = {  # each view in one sentence a 16-year-old can follow
    "visualize": "The computer paints, step by step, the picture that makes each channel fire as strongly as it "
                 "can: that is what the channel looks for.",
    "examples": "Real pictures that make one channel fire most. The channel only sees the part inside the red box "
                "(the rest is dimmed); in late layers that part is the whole picture.",
    "space": "Every picture becomes a dot, placed by what the network makes of it: pictures it finds alike sit "
             "together. Your picture is the one in the red frame.",
    "fool": "Change every pixel by an amount too small to notice, chosen so that the network changes its answer.",
}


# ---------- models, layers and data sets ----------
def trained_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """(label, name) of the models with trained weights (here, or downloaded on first use), in picker order."""
    return [(e.label, e.name) for e in ctx.zoo.grouped() if e.readiness is not Readiness.UNTRAINED]


def trained_explainer(ctx: AppContext, name: str, progress: gr.Progress | None = None) -> Explainer:
    """The model's explainer; refused with a sentence unless its weights are trained (a download that failed
    leaves a model untrained)."""
    explainer = ctx.cache.get(name, loading_progress(progress) if progress is not None else None)
    state = ctx.zoo.state(name)
    if not state.trained:
        raise BadInputError(f"{name} has no trained weights here ({state.status}), and an untrained network has "
                            "learnt nothing to show: pick a trained model")
    return explainer


def channel_layers(info) -> list[tuple[str, str]]:
    """(label, name) of every layer whose output is channel maps: the model's main stages first, then the others
    in forward order, each with its channels and map size (from the Learn tab's shape trace)."""
    tr, _ = shapes_of(info)
    maps = {n: cs[0].out_shape for n, cs in tr.calls.items() if n and cs[0].out_shape and len(cs[0].out_shape) == 4}
    main = [n for n in info.feature_layers if n in maps]
    return [(layer_label(n, maps[n], n in main), n) for n in main + [n for n in maps if n not in main]]


def layer_label(name: str, shape: tuple[int, ...], main: bool) -> str:
    """'layer3: 256 channels of 8x8 (a main stage)'."""
    _, c, h, w = shape
    return f"{name}: {c} channels of {h}x{w}" + (" (a main stage)" if main else "")


def middle_layer(info) -> str | None:
    """The layer the tab opens on: the middle main stage (middle layers show textures and parts)."""
    layers = [n for _, n in channel_layers(info)]
    main = [n for n in info.feature_layers if n in layers] or layers
    return main[len(main) // 2] if main else None


def dataset_choices() -> list[tuple[str, str]]:
    """The data sets this server can read without a download, and this session's class-builder pictures."""
    here = [(f"{catalog.label(d)} (test pictures)", d) for d in DATASETS if is_local(d)]
    return here + [("My classes (the class builder's pictures, Train tab)", MY_CLASSES)]


def picture_source(ctx: AppContext, dataset: str, archive, request: gr.Request | None):
    """What a pass runs over: an uploaded archive (read by the safe archive loader), this session's class-builder
    pictures (a copy), or a built-in data set that is here; a missing one gets a sentence."""
    if archive:
        return str(getattr(archive, "name", archive))
    if dataset == MY_CLASSES:
        session = ctx.sessions.get(request.session_hash if request else None)
        with session.lock:
            return session.class_set.with_classes(session.class_set.classes)
    if dataset in DATASETS and not is_local(dataset):
        here = ", ".join(d for _, d in dataset_choices())
        raise BadInputError(f"{dataset} is not in this server's data folder, and this tab never downloads: pick "
                            f"one of {here}, or upload a .zip or .tar.gz of class folders")
    return dataset


def whole(value, what: str) -> int:
    """A whole number from a slider or a request (3.0 is 3), else a sentence."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{what} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise BadInputError(f"{what} must be a whole number, got {value!r}")
    return int(number)


# ---------- 1. what a channel looks for ----------
def parse_units(text: str, classes: tuple[str, ...], objective: Objective) -> tuple[int, ...]:
    """'0-7' or '3, 17, 42' (for classes, their names too) as unit numbers; anything else gets a sentence."""
    units: list[int] = []
    for token in str(text or "").replace(";", ",").split(","):
        if token.strip():
            units += _token_units(token.strip(), classes, objective)
    if not units:
        raise BadInputError(f"name the {objective.value}s to visualise, e.g. 0-7 or 3, 17, 42")
    return tuple(units)


def _token_units(token: str, classes: tuple[str, ...], objective: Objective) -> list[int]:
    """One comma-separated part: a number, a range a-b, or (classes) a class name."""
    span = re.fullmatch(r"(\d+)\s*-\s*(\d+)", token)
    if span:
        first, last = int(span[1]), int(span[2])
        if not 0 <= last - first < MAX_UNITS:
            raise BadInputError(f"{token!r}: a range goes up and holds at most {MAX_UNITS} {objective.value}s")
        return list(range(first, last + 1))
    if token.isdigit():
        return [int(token)]
    names = [c.lower() for c in classes]
    if objective is Objective.CLASS and token.lower() in names:
        return [names.index(token.lower())]
    what = "a class number or name" if objective is Objective.CLASS else "a channel number"
    raise BadInputError(f"{token!r} is not {what}: write them like 0-7 or 3, 17, 42")


def viz_settings(info, layer: str, channels: str, steps, objective: str) -> VisualizeSettings:
    """The request as VisualizeSettings (each field checked, with a sentence)."""
    try:
        kind = Objective(objective)
    except ValueError:
        raise BadInputError(f"visualise 'channel' (a layer's channels) or 'class' (class scores), not {objective!r}") \
            from None
    units = parse_units(channels, tuple(info.classes), kind)
    return VisualizeSettings(layer=layer or "", units=units, steps=whole(steps, "steps"), objective=kind)


class Stop:
    """A run's cancel: set by its session's Stop button, or by itself once the time limit has passed."""

    def __init__(self, limit_s: float) -> None:
        self.event, self.limit_s = threading.Event(), limit_s
        self.until = time.monotonic() + limit_s

    def set(self) -> None:
        self.event.set()

    @property
    def timed_out(self) -> bool:
        return time.monotonic() > self.until

    def is_set(self) -> bool:
        return self.event.is_set() or self.timed_out

    def sentence(self, message: VizCancelled) -> str:
        """Why the run stopped, and that nothing was kept."""
        if self.event.is_set():
            return message.sentence
        return (f"Stopped at the server's {self.limit_s:.0f} s limit after {message.step} of {message.total} steps; "
                "nothing was kept. Ask for fewer steps or fewer channels.")


RUNNING: dict[str, Stop] = {}  # each browser session's running visualisation (Gradio's session hash is its own)


class running:
    """This session's Stop for one run, registered while it runs (the Stop button finds it) and then forgotten."""

    def __init__(self, request: gr.Request | None, limit_s: float) -> None:
        self.key = request.session_hash if request else None
        self.stop = Stop(limit_s)

    def __enter__(self) -> Stop:
        if self.key:
            RUNNING[self.key] = self.stop
        return self.stop

    def __exit__(self, *exc) -> None:
        if self.key and RUNNING.get(self.key) is self.stop:
            del RUNNING[self.key]


def unit_labels(info, settings: VisualizeSettings) -> list[str]:
    """'channel 5' or the class name of each unit."""
    if settings.objective is Objective.CHANNEL:
        return [f"channel {u}" for u in settings.units]
    return [info.classes[u] if u < len(info.classes) else f"class {u}" for u in settings.units]


def shown_files(pictures, captions: list[str]) -> list[tuple[str, str]]:
    """Gallery tiles: each picture enlarged (pixels kept) as a lossless file, with its caption."""
    return [(image_file(enlarged(p, SHOWN_SIDE)), c) for p, c in zip(pictures, captions)]


@errors_in_progress("visualize_channels", VIZ_OUTPUTS, model_arg=1, prefix="**Stopped:** ")
def visualize_channels(ctx: AppContext, name: str, layer: str, channels: str = "0-7", steps: int = DEFAULT_STEPS,
                       objective: str = "channel", request: gr.Request = None, progress=gr.Progress()):
    """Stream the picture that most excites each channel of layer (objective 'class': each class score) as it
    forms: (status, gallery of (picture, caption), caption, the finished Visualization)."""
    explainer = trained_explainer(ctx, name, progress)
    settings = viz_settings(explainer.info, layer, channels, steps, objective)
    labels = unit_labels(explainer.info, settings)
    with running(request, ctx.limits.time_limit_s) as stop:
        for message in visualize(explainer, settings, stop):
            if isinstance(message, VizProgress):
                progress(message.fraction, desc=f"step {message.step} of {message.total}")
                tiles = [f"{label}, step {message.step}: {s:.3g}" for label, s in zip(labels, message.scores)]
                yield (f"Step {message.step} of {message.total}...", shown_files(message.pictures, tiles),
                       gr.skip(), gr.skip())
            elif isinstance(message, VizCancelled):
                yield f"**Stopped:** {stop.sentence(message)}", gr.skip(), gr.skip(), gr.skip()
            else:
                yield viz_done(message)


def viz_done(done: VizDone) -> tuple:
    """The finished pictures, captioned with their numbers, and a caption that says what the numbers mean."""
    viz = done.result
    tiles = shown_files(viz.pictures, [tile_caption(viz, i) for i in range(len(viz.units))])
    wins = sum(viz.best_other(i) is None or viz.own(i) > viz.best_other(i) for i in range(len(viz.units)))
    how = "kept from an earlier request, shown at once" if done.cached else f"{viz.seconds:.1f} s"
    where = f"layer **{viz.layer}**" if viz.layer else "the class scores"
    caption = (f"**The numbers under each picture** are {viz.objective.meaning}: on its own picture / the most "
               f"on any other picture here. **{wins} of {len(viz.units)}** respond most to their own picture. "
               f"{viz.model}, {where}: {viz.size}x{viz.size} pixels, {viz.steps} steps of gradient ascent ({how})."
               + dead_note(viz))
    return f"Done: {len(viz.units)} pictures.", tiles, caption, viz


def dead_note(viz: Visualization) -> str:
    """A sentence for the units that never rose above 0 (their picture stays grey)."""
    dead = [viz.labels[i] for i in range(len(viz.units)) if viz.own(i) == 0]
    if not dead or viz.objective is not Objective.CHANNEL:
        return ""
    return (f"  \n{', '.join(dead)} stayed at exactly 0 on its own picture: on the grey start it was switched off "
            "everywhere (by a ReLU), so no gradient reached the picture and it stayed grey. The number after the / "
            "says whether another picture here wakes it.")


def tile_caption(viz: Visualization, i: int) -> str:
    """'channel 5: 3.21 / 0.8' under one picture: its response to its own picture / the most to another one."""
    other = viz.best_other(i)
    return f"{viz.labels[i]}: {viz.own(i):.3g}" + ("" if other is None else f" / {other:.3g}")


def stop_visualizing(ctx: AppContext, request: gr.Request):
    """Ask this session's running visualisation to stop after its current step."""
    stop = RUNNING.get(request.session_hash)
    if stop is None:
        return "Nothing is running."
    stop.set()
    return "Stopping after the current step..."


# ---------- 2. a channel's favourite pictures ----------
def examples_pass(explainer: Explainer, layer: str, source, progress: gr.Progress | None) -> ex.ExamplesPass:
    """The kept pass over the pictures for every channel of layer (run now when none is kept)."""
    moved = functools.partial(_move_pass, progress) if progress is not None else None
    with explainer.lock:  # hooks on the shared model: no explain call at the same time
        return ex.dataset_examples(explainer.model, explainer.info, layer, source, EXAMPLES, moved)


def _move_pass(progress: gr.Progress, done: int, total: int) -> None:
    """Show a pass's progress on the bar."""
    progress(done / total, desc=f"{done:,} of {total:,} pictures")


@guarded("dataset_examples", model_arg=1, timed=False)  # bounded work (at most 2,000 pictures), with a bar
def dataset_examples(ctx: AppContext, name: str, layer: str, dataset: str = "shapes", channel: int = 0,
                     archive=None, request: gr.Request = None, progress=gr.Progress()):
    """A channel's strongest pictures in the data set (an uploaded archive wins) and the patch each shows it, as
    gallery tiles (picture with its box | patch), with a caption. The first request for a layer and data set
    runs one pass over it; browsing channels reads what that pass kept."""
    explainer = trained_explainer(ctx, name, progress)
    kept = examples_pass(explainer, layer, picture_source(ctx, dataset, archive, request), progress)
    view = ex.channel_examples(kept, whole(channel, "channel"))
    tiles = [(image_file(example_tile(e)), f"{e.label}: {e.value:.3g}") for e in view.examples]
    strongest = ", ".join(map(str, ex.ranked_channels(kept)[:8]))
    caption = (f"{view.caption}  \n**The number under each picture** is the channel's strongest response in it "
               f"(its largest value anywhere on its map). Channels that respond most on these pictures: "
               f"{strongest}. The pass over {kept.count:,} pictures took {kept.seconds:.1f} s; browsing "
               "channels reads what it kept.")
    return tiles, caption


@guarded("channel_picture", model_arg=1, timed=False)  # its own Stop keeps the time limit
def channel_picture(ctx: AppContext, name: str, layer: str, channel: int, steps: int,
                    last: Visualization | None = None):
    """The channel's synthesised picture beside its examples: from this session's last visualisation when that
    made it, else made now for this channel alone (then kept for everyone)."""
    channel = whole(channel, "channel")
    if last is not None and last.model == name and last.layer == layer and channel in last.units:
        i = last.units.index(channel)
        return (image_file(enlarged(last.pictures[i], SHOWN_SIDE)),
                f"{last.caption(i)}; from your visualisation above.")
    settings = VisualizeSettings(layer=layer, units=(channel,), steps=whole(steps, "steps"))
    viz = finished(trained_explainer(ctx, name), settings, Stop(ctx.limits.time_limit_s))
    return (image_file(enlarged(viz.pictures[0], SHOWN_SIDE)),
            f"Channel {channel}'s own picture ({viz.steps} steps): {viz.own(0):.3g}, {viz.objective.meaning}.")


def finished(explainer: Explainer, settings: VisualizeSettings, stop: Stop) -> Visualization:
    """A visualisation run to its end (or kept from before); a stopped one gets its sentence."""
    for message in visualize(explainer, settings, stop):
        if isinstance(message, VizCancelled):
            raise BadInputError(stop.sentence(message))
        if isinstance(message, VizDone):
            return message.result
    raise RuntimeError("the visualisation ended without a result")


def layer_channels(ctx: AppContext, name: str, layer: str):
    """The channel slider set to the picked layer's channels."""
    info = ctx.zoo.info(name)
    tr, _ = shapes_of(info)
    call = tr.call(layer) if layer else None
    if call is None or not call.out_shape or len(call.out_shape) != 4:
        return gr.update()
    return gr.update(maximum=call.out_shape[1] - 1, value=0, label=f"Channel (0 to {call.out_shape[1] - 1})")


# ---------- 3. the feature space ----------
@functools.lru_cache(maxsize=4)
def agreement(space: fs.FeatureSpace, k: int) -> tuple[float, float]:
    """How often neighbours share a picture's class, in feature and in pixel space (kept per map)."""
    return fs.neighbour_agreement(space, k)


def neighbour_tiles(found: tuple[fs.Neighbour, ...]) -> list[tuple[str, str]]:
    """Gallery tiles of neighbours: each thumbnail enlarged (pixels kept), with its class and distance."""
    return [(image_file(enlarged(n.thumbnail)), f"{n.label} ({n.distance:.3g})") for n in found]


@guarded("feature_space", timed=False)  # bounded work (at most 2,000 pictures), with a bar
def feature_space(ctx: AppContext, image, name: str, dataset: str = "shapes", archive=None,
                  request: gr.Request = None, progress=gr.Progress()):
    """The data set's t-SNE map with the student's picture placed on it, its nearest pictures in feature space and
    in pixel space (gallery tiles), and a caption with how often each kind of neighbour shares a class."""
    explainer = trained_explainer(ctx, name, progress)
    picture = decoded(image, NO_IMAGE)
    source = picture_source(ctx, dataset, archive, request)
    progress(0.2, desc="Features of every picture, then the map (t-SNE); a map is kept once made")
    with explainer.lock:  # hooks on the shared model: no explain call at the same time
        space = fs.feature_space(explainer.model, explainer.info, source, SPACE)
        placed = fs.place(space, explainer.model, explainer.info, picture, SPACE)
    return (fs.map_figure(space, placed, thumbs=24, size=MAP_INCHES), neighbour_tiles(placed.by_features),
            neighbour_tiles(placed.by_pixels), space_caption(space, placed))


def space_caption(space: fs.FeatureSpace, placed: fs.Placement) -> str:
    """What the map and the neighbours show, with the two agreement rates and what they mean."""
    by_features, by_pixels = agreement(space, SPACE.k)
    named = placed.by_features[0].label
    same = [sum(n.label == named for n in found) for found in (placed.by_features, placed.by_pixels)]
    return (f"On {space.dataset}: **{by_features:.0%}** of each picture's "
            f"{SPACE.k} nearest neighbours in feature space share its class, against **{by_pixels:.0%}** in pixel "
            f"space: pixel neighbours share colours, feature neighbours share what is in the picture. Yours: "
            f"{same[0]} of {SPACE.k} feature neighbours and {same[1]} of {SPACE.k} pixel neighbours are "
            f"'{named}'. The number under each neighbour is its distance to your picture in that space. "
            f"Features {space.embed_seconds:.1f} s, map {space.map_seconds:.1f} s (kept for the next request).")


# ---------- 4. fooling the network ----------
def fool_settings(method: str, epsilon, target: str) -> attacks.FoolSettings:
    """The attack from the tab: epsilon in whole pixel levels (2 means 2/255), a blank target is untargeted."""
    try:
        levels = float(epsilon)
    except (TypeError, ValueError):
        raise BadInputError(f"epsilon is a number of pixel levels such as 2 (meaning 2/255), got {epsilon!r}") from None
    return attacks.FoolSettings(method=method, epsilon=levels / 255, target=str(target or "").strip() or None)


def fool_caption(result: attacks.FoolResult, explainer: Explainer) -> str:
    """Whether the model was fooled, what each picture is, and the perturbation's scale."""
    (was, p_was), (now, p_now) = result.before[0], result.after[0]
    aim = f"aimed at **{explainer.class_name(result.target)}**" if result.target is not None else "untargeted"
    verdict = (f"**Fooled** ({result.method.value.upper()}, {aim}, epsilon = {result.levels}/255): it said **{was}** "
               f"(p = {p_was:.2f}) and now says **{now}** (p = {p_now:.2f})." if result.fooled else
               f"**Not fooled** at epsilon = {result.levels}/255 ({result.method.value.upper()}, {aim}): it says "
               f"**{now}** (p = {p_now:.2f}). Try a larger epsilon or PGD.")
    return (f"{verdict}  \nMiddle picture: the {result.scale_text}. p is the model's probability. Answers and "
            "heatmaps are of the PNG files read back like an upload (8-bit pixels, the model's input size).")


@guarded("fool")
def fool(ctx: AppContext, image, name: str, method: str = "fgsm", epsilon: float = 2, target: str = "",
         progress=gr.Progress()):
    """FGSM or PGD (untargeted, or towards target) on the picture, epsilon in pixel levels: the original, the
    perturbation amplified, the adversarial picture, both answers, Grad-CAM before and after, a caption, and the
    adversarial PNG at the model's input size."""
    explainer = trained_explainer(ctx, name, progress)
    settings = fool_settings(method, epsilon, target)
    result = attacks.fool(explainer, decoded(image, NO_IMAGE), settings)
    shown = [image_file(enlarged(p, SHOWN_SIDE)) for p in (result.original, result.perturbation, result.adversarial)]
    before = heat_files(ctx, Image.fromarray(result.original), name, [result.cam_before])[0]
    after = heat_files(ctx, Image.fromarray(result.adversarial), name, [result.cam_after])[0]
    return (*shown, dict(result.before), dict(result.after), before, after, fool_caption(result, explainer),
            named_file(result.png, f"adversarial-{result.after[0][0]}-{result.levels}of255.png"))


def target_choices(classes) -> list[tuple[str, str]]:
    """The attack's target picker: blank (untargeted: any wrong class), then every class."""
    return [("(none: any wrong class)", "")] + [(c, c) for c in classes]


# ---------- the model ----------
def insight_model(ctx: AppContext, name: str):
    """Layer and target choices, the data set it was trained on (when it is here) and the 'what it knows' sentence
    of a newly picked model (no loading: read from its metadata and shape trace)."""
    info = ctx.zoo.info(name)
    own = info.dataset in DATASETS and is_local(info.dataset)
    return (gr.update(choices=channel_layers(info), value=middle_layer(info)),
            gr.update(choices=target_choices(info.classes), value=""),
            gr.update(value=info.dataset) if own else gr.update(), knows_sentence(ctx, name))


def follow_trained(ctx: AppContext, name: str):
    """The tab's picker follows Explore's to a trained model (a run trained meanwhile joins the choices)."""
    choices = trained_choices(ctx)
    return gr.update(choices=choices, value=name) if name in {n for _, n in choices} else gr.update(choices=choices)


# ---------- layout ----------
def _top(ctx: AppContext) -> dict:
    """Explore's image, the trained-model picker and the data set the views 2 and 3 look through."""
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        shown = gr.Image(label="Explore's image (change it in the Explore tab)", interactive=False, type="filepath",
                         height=170, scale=1, buttons=[], elem_id="insight-image")
        with gr.Column(scale=2):
            model = gr.Dropdown(trained_choices(ctx), value=DEFAULT_MODEL, label="Model (trained ones only)",
                                elem_id="insight-model")
            knows = gr.Markdown(label="What the model knows")
        with gr.Column(scale=2):
            dataset = gr.Dropdown(dataset_choices(), value="shapes", label="Pictures to look through (views 2, 3)")
            archive = gr.File(label="...or your own zip / tar.gz of class folders", file_types=[".zip", ".gz", ".tgz"],
                              type="filepath", height=90)
    return {"shown": shown, "model": model, "knows": knows, "dataset": dataset, "archive": archive}


def _visualize() -> dict:
    """View 1: the layer, what to visualise, the steps; the gallery of pictures as they form."""
    gr.Markdown(f"### 1. What a channel looks for\n{PLAIN['visualize']}", elem_id="insight-viz-section")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            layer = gr.Dropdown(label="Layer", allow_custom_value=True, elem_id="insight-layer")
            objective = gr.Radio([("channels of the layer", "channel"), ("classes (their scores)", "class")],
                                 value="channel", label="Visualise")
            channels = gr.Textbox("0-7", label=f"Which (e.g. 0-7 or 3, 17, 42; at most {MAX_UNITS})",
                                  elem_id="insight-channels")
            steps = gr.Slider(MIN_STEPS, MAX_STEPS, value=DEFAULT_STEPS, step=8, label="Steps (more: sharper, slower)",
                              elem_id="insight-steps")
            with gr.Row():
                run = gr.Button("Visualise", variant="primary", elem_id="insight-visualize")
                stop = gr.Button("Stop")
            status = gr.Markdown(label="Status", elem_id="insight-viz-status")
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="The picture each one looks for", columns=4, object_fit="contain",
                                 height="auto", elem_id="insight-gallery")
            caption = gr.Markdown(label="Caption", elem_id="insight-viz-caption")
    return {"layer": layer, "objective": objective, "channels": channels, "steps": steps, "run": run, "stop": stop,
            "viz_status": status, "gallery": gallery, "viz_caption": caption, "last": gr.State(None)}


def _examples() -> dict:
    """View 2: one channel's own picture beside its favourite pictures of the data set."""
    gr.Markdown(f"### 2. A channel's favourite pictures\n{PLAIN['examples']}", elem_id="insight-examples-section")
    with gr.Row(equal_height=False):
        channel = gr.Slider(0, MAX_CHANNEL, value=0, step=1, label="Channel", scale=3, elem_id="insight-channel")
        find = gr.Button("Find its favourite pictures", variant="primary", scale=1, elem_id="insight-find")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            picture = gr.Image(label="What it looks for", interactive=False, type="filepath", height=260,
                               buttons=[], elem_id="insight-channel-picture")
            picture_caption = gr.Markdown(label="Picture caption")
        with gr.Column(scale=3):
            examples = gr.Gallery(label="Its favourite pictures (inside the red box: the patch it sees)", columns=4,
                                  object_fit="contain", height="100%", elem_id="insight-examples")
            caption = gr.Markdown(label="Caption", elem_id="insight-examples-caption")
    return {"channel": channel, "find": find, "channel_picture": picture, "channel_caption": picture_caption,
            "examples": examples, "examples_caption": caption}


def _space() -> dict:
    """View 3: the map, and the neighbours in both spaces beside it."""
    with gr.Row(equal_height=False):
        gr.Markdown(f"### 3. The feature space\n{PLAIN['space']}", elem_id="insight-space-section")
        run = gr.Button("Map the pictures and place mine", variant="primary", scale=0, min_width=380,
                        elem_id="insight-map")
    with gr.Row(equal_height=False):
        plot = gr.Plot(label="Map", show_label=False, scale=5, elem_id="insight-map-plot")
        by_features = gr.Gallery(label="Nearest in feature space: what the network finds alike", columns=2,
                                 height="100%", object_fit="contain", scale=3, elem_id="insight-by-features")
        by_pixels = gr.Gallery(label="Nearest in pixel space: alike in colour and layout", columns=2,
                               height="100%", object_fit="contain", scale=3, elem_id="insight-by-pixels")
    caption = gr.Markdown(label="Caption", elem_id="insight-map-caption")
    return {"map": run, "map_plot": plot, "by_features": by_features, "by_pixels": by_pixels, "map_caption": caption}


def _fool() -> dict:
    """View 4: the attack's settings, the three pictures, the answers and heatmaps before and after."""
    gr.Markdown(f"### 4. Fool the network\n{PLAIN['fool']}", elem_id="insight-fool-section")
    with gr.Row(equal_height=False):
        method = gr.Radio([("FGSM (one step)", "fgsm"), ("PGD (10 smaller steps)", "pgd")], value="fgsm",
                          label="Method", scale=2)
        epsilon = gr.Slider(1, attacks.MAX_LEVELS, value=2, step=1, scale=2, elem_id="insight-epsilon",
                            label="epsilon: the most any pixel may change, in levels of 255")
        target = gr.Dropdown([("(none: any wrong class)", "")], value="", label="Make it say", scale=2,
                             allow_custom_value=True)
        run = gr.Button("Fool it", variant="primary", scale=1, elem_id="insight-fool")
    with gr.Row(equal_height=True):
        caption = gr.Markdown(label="Caption", elem_id="insight-fool-caption")
        download = gr.File(label="The adversarial picture (PNG, the model's input size): upload it in Explore",
                           scale=0, min_width=360, height=90, elem_id="insight-download")
    with gr.Row():
        pictures = [gr.Image(label=label, interactive=False, type="filepath", height=240, buttons=[],
                             elem_id=f"insight-{key}") for key, label in
                    (("original", "Original (as the model sees it)"), ("perturbation", "The change, amplified"),
                     ("adversarial", "Adversarial picture"))]
    with gr.Row():
        before = gr.Label(num_top_classes=3, label="Answer before", elem_id="insight-before")
        cams = [gr.Image(label=label, interactive=False, type="filepath", height=240, buttons=[],
                         elem_id=f"insight-cam-{key}") for key, label in
                (("before", "Where it looked before (Grad-CAM)"), ("after", "Where it looked after (Grad-CAM)"))]
        after = gr.Label(num_top_classes=3, label="Answer after", elem_id="insight-after")
    return {"method": method, "epsilon": epsilon, "target": target, "fool": run, "pictures": pictures,
            "before": before, "after": after, "cams": cams, "fool_caption": caption, "download": download}


# ---------- events ----------
def _wire(ctx: AppContext, ui: SimpleNamespace) -> None:
    """Follow Explore's image and model; one button per view; browsing channels re-reads the kept pass."""
    image, explore_model = ctx.inputs.image, ctx.inputs.model
    image.change(lambda path: path, image, ui.shown, api_visibility="private", queue=False)
    explore_model.change(ctx.bind(follow_trained), explore_model, ui.model, api_visibility="private", queue=False)
    # triggers=None: on page load and whenever the model changes
    gr.on(None, ctx.bind(insight_model), ui.model, [ui.layer, ui.target, ui.dataset, ui.knows],
          api_visibility="private", queue=False)
    ui.layer.change(ctx.bind(layer_channels), [ui.model, ui.layer], ui.channel, api_visibility="private",
                    queue=False)
    ui.archive.change(data_used, ui.archive, ui.dataset, api_visibility="private", queue=False)  # an archive wins
    long = {"concurrency_id": "insight", "concurrency_limit": ctx.limits.explain_concurrency}
    ui.run.click(ctx.bind(visualize_channels), [ui.model, ui.layer, ui.channels, ui.steps, ui.objective],
                 [ui.viz_status, ui.gallery, ui.viz_caption, ui.last], api_name="visualize_channels",
                 show_progress_on=[ui.viz_status], **long)
    ui.stop.click(ctx.bind(stop_visualizing), None, ui.viz_status, api_visibility="private", queue=False)
    _wire_examples(ctx, ui, long)
    ui.map.click(ctx.bind(feature_space), [image, ui.model, ui.dataset, ui.archive],
                 [ui.map_plot, ui.by_features, ui.by_pixels, ui.map_caption], api_name="feature_space", **long)
    ui.fool.click(ctx.bind(fool), [image, ui.model, ui.method, ui.epsilon, ui.target],
                  [*ui.pictures, ui.before, ui.after, *ui.cams, ui.fool_caption, ui.download], api_name="fool",
                  **ctx.shared)


def _wire_examples(ctx: AppContext, ui: SimpleNamespace, long: dict) -> None:
    """The pass (Find) and browsing (the channel slider), each followed by the channel's own picture."""
    examples_io = ([ui.model, ui.layer, ui.dataset, ui.channel, ui.archive], [ui.examples, ui.examples_caption])
    picture_io = ([ui.model, ui.layer, ui.channel, ui.steps, ui.last], [ui.channel_picture, ui.channel_caption])
    ui.find.click(ctx.bind(dataset_examples), *examples_io, api_name="dataset_examples", **long) \
        .success(ctx.bind(channel_picture), *picture_io, api_visibility="private", **long)
    ui.channel.release(ctx.bind(dataset_examples), *examples_io, api_visibility="private", **long) \
        .success(ctx.bind(channel_picture), *picture_io, api_visibility="private", **long)


def build(ctx: AppContext) -> None:
    """The "What it learnt" tab; it looks inside Explore's model (when trained) at Explore's image."""
    with gr.Tab(TAB):
        parts = {**_top(ctx), **_visualize(), **_examples(), **_space(), **_fool()}
    _wire(ctx, SimpleNamespace(**parts))
