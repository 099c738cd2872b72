"""The Compare tab: the Explore tab's image through several architectures, top-3 and Grad-CAM side by side.

It opens on the models that are ready here, in the order of their history; untrained ones join only when asked.
The small-picture models (CIFAR-10's 32x32) get a crop around the object (cnndemo.explain.framing), shown as a box
on the photo that the student can switch off or resize; each model's input is shown beside its answer.
"""
from __future__ import annotations

import functools

import gradio as gr
import pandas as pd

from cnndemo import BadInputError
from cnndemo.explain.framing import (FRAMER, Box, FramedRow, boxed, crop, framed_compare, framing_note, object_box,
                                     small_picture_sentence, wants_framing)
from cnndemo.learn.story import FAMILIES
from cnndemo.models import Readiness
from cnndemo.outputs import image_file, photo_file

from .common import decoded, heat_files, loading_progress, session_of
from .context import AppContext, guarded

NO_IMAGE = "Compare uses the Explore tab's image: upload a photo, pick an example or draw a digit there first."
COLUMNS = ["model", "year", "parameters", "accuracy here", "shown class", "top-1", "top-2", "top-3"]


def compare_choices(ctx: AppContext, downloads: bool = False, untrained: bool = False,
                    session: str | None = None) -> list[tuple[str, str]]:
    """(label, name) pairs of the models Compare offers session, oldest idea first: the ready ones, and those
    that download weights or are untrained only when asked."""
    wanted = {Readiness.READY} | ({Readiness.DOWNLOAD} if downloads else set()) | \
        ({Readiness.UNTRAINED} if untrained else set())
    entries = [e for e in ctx.zoo.grouped(session) if e.readiness in wanted]
    entries.sort(key=functools.partial(_sort_year, ctx))  # stable: readiness order within a year
    return [(_choice_label(ctx, e), e.name) for e in entries]


def _sort_year(ctx: AppContext, entry) -> int:
    """The year an entry sorts by (a family the story does not tell goes last)."""
    return _year(ctx, entry.name) or 9999


def _year(ctx: AppContext, name: str) -> int | None:
    """The year the model's family was published, from the story (None for families it does not tell)."""
    return FAMILIES.get(ctx.zoo.info(name).family, (None, ""))[0]


def _choice_label(ctx: AppContext, entry) -> str:
    """'2015 resnet18_cifar (CIFAR-10, 89.2 %, 11.2 M parameters)': year, data set, accuracy, size; a model
    that is not ready says so instead (downloads 97.8 MB, untrained)."""
    year = _year(ctx, entry.name)
    when = f"{year} " if year else ""
    if entry.readiness is not Readiness.READY:
        return when + entry.label
    spec = ctx.zoo.info(entry.name).weights
    recorded, accuracy = spec.metrics(), ctx.zoo.accuracy(entry.name)
    facts = [spec.dataset_label] + ([f"{accuracy:.1%}"] if accuracy else [])
    if recorded and recorded.parameters:
        facts.append(_count(recorded.parameters) + " parameters")
    return f"{when}{entry.name} ({', '.join(facts)})"


def ready_names(ctx: AppContext) -> list[str]:
    """The models Compare ticks when it opens: for each family of the story and each data set of colour photos,
    its first ready model (an ImageNet form joins its CIFAR-10 twin once its weights are here)."""
    firsts: dict[tuple[str, str], str] = {}
    for _, name in compare_choices(ctx):
        info = ctx.zoo.info(name)
        if info.family in FAMILIES and info.input_size[0] == 3:  # a photo lesson: the grey digit models wait
            firsts.setdefault((info.family, info.dataset), name)
    return list(firsts.values())


def _accuracy(ctx: AppContext, name: str) -> str:
    """The test accuracy its weights recorded, only when the model has them ('' otherwise: never beside random
    weights)."""
    accuracy = ctx.zoo.accuracy(name)
    return f"{accuracy:.1%}" if accuracy else ""


def _row(ctx: AppContext, r, trained: bool, parameters: int) -> list:
    """One table row: the model, its size and score, the class its map is for and its top 3 (hidden untrained)."""
    shown = r.attribution.target_name if trained else "(random weights)"
    top = [f"{c} ({p:.1%})" for c, p in r.top3] if trained else ["(untrained: hidden)"] * 3
    return [r.name, _year(ctx, r.name) or "", f"{parameters:,}", _accuracy(ctx, r.name), shown, *top]


def _caption(r, trained: bool, cropped: bool = False) -> str:
    """A gallery caption: the class the map is for and its probability (on the crop), or 'untrained'."""
    if not trained:
        return f"{r.name}: untrained (random weights, the map explains nothing)"
    a = r.attribution
    return f"{r.name}: {a.target_name} ({a.probability:.1%})" + (" on the crop" if cropped else "")


def frame_box(ctx: AppContext, picture, chosen: list[str], framed: bool, zoom: float) -> tuple[Box, str]:
    """The crop the small-picture models get, zoom times the square around the object FRAMER finds, and a
    sentence on it; the whole photo when framing is off, no model wants it, or FRAMER has no trained weights."""
    whole = Box.whole(*picture.size)
    if not any(wants_framing(ctx.zoo.info(n).weights) for n in chosen):
        return whole, ""
    if not framed:
        return whole, framing_note(whole, picture.size, FRAMER)
    framer = ctx.cache.get(FRAMER)
    if not ctx.zoo.state(FRAMER).trained:
        return whole, f"No crop: {FRAMER}, which finds the object, has no trained weights here."
    box = object_box(framer, picture).zoomed(float(zoom or 1.0), *picture.size)
    return box, framing_note(box, picture.size, FRAMER)


def compare_note(ctx: AppContext, chosen: list[str], framing: str, session: str | None = None) -> str:
    """What the comparison shows: what 10 classes at 32x32 mean, the crop, weights that could not be had, and
    the ImageNet forms that join once their weights are here."""
    small = [ctx.zoo.info(n).weights for n in chosen if wants_framing(ctx.zoo.info(n).weights)]
    lines = [small_picture_sentence(small[0])] if small else []
    lines += [framing] if framing else []
    lines += [p for p in (ctx.zoo.problem(n) for n in chosen) if p]
    waiting = [n for _, n in compare_choices(ctx, downloads=True, session=session)
               if ctx.zoo.readiness(n) is Readiness.DOWNLOAD]
    if waiting:
        lines.append(f"The ImageNet forms ({', '.join(waiting[:4])}{', ...' if len(waiting) > 4 else ''}) are not "
                     "on this computer: tick 'Also offer models whose weights download' to fetch them.")
    return "  \n".join(lines)


def _tile(ctx: AppContext, picture, framed: FramedRow) -> tuple[str, str]:
    """One gallery tile: the model's Grad-CAM over the picture it was given (the crop or the whole photo)."""
    r, cropped = framed.row, framed.box != Box.whole(*picture.size)
    heat = heat_files(ctx, crop(picture, framed.box) if cropped else picture, r.name, [r.attribution])[0]
    return heat, _caption(r, ctx.zoo.state(r.name).trained, cropped)


def _seen(framed: FramedRow) -> tuple[str, str]:
    """One 'what it sees' tile: the model's input, one block per input pixel."""
    size = framed.row.attribution.display.shape
    return image_file(framed.seen), f"{framed.name}: {size[1]}x{size[0]}"


def _count(n: int) -> str:
    """A parameter count for a short label: '8,490', '11.2 M'."""
    return f"{n:,}" if n < 1_000_000 else f"{n / 1e6:.1f} M"


@guarded("compare")
def compare(ctx: AppContext, image, chosen: list[str], target: str = "", framed: bool = True, zoom: float = 1.0,
            progress=gr.Progress(), request: gr.Request = None):
    """Top-3 and Grad-CAM (of one fixed class where a model has it) per architecture, the small-picture models on
    the crop around the object; the photo with the crop drawn, what each model sees, a note."""
    picture = decoded(image, NO_IMAGE)
    if not chosen:
        raise BadInputError("Tick at least one architecture to compare.")
    chosen = list(chosen)
    box, framing = frame_box(ctx, picture, chosen, framed, zoom)
    rows = framed_compare(ctx.cache, picture, chosen, box, target or None, loading_progress(progress))
    table = [_row(ctx, f.row, ctx.zoo.state(f.name).trained, f.parameters) for f in rows]
    note = compare_note(ctx, chosen, framing, session_of(request))
    return ([_tile(ctx, picture, f) for f in rows], pd.DataFrame(table, columns=COLUMNS),
            photo_file(boxed(picture, box)), [_seen(f) for f in rows], note)


def compare_offer(ctx: AppContext, downloads: bool, untrained: bool, ticked: list[str], request: gr.Request = None):
    """The event of the 'more models' checkboxes: the choices (this session's runs among them) with or without
    the models that download weights and the untrained ones, and the ticks that are still offered."""
    choices = compare_choices(ctx, downloads, untrained, session_of(request))
    names = {n for _, n in choices}
    return gr.update(choices=choices, value=[n for n in ticked if n in names])


def class_union(ctx: AppContext) -> list[tuple[str, str]]:
    """Every class some model knows, for the fixed-class picker (blank: each model's own top-1)."""
    names = dict.fromkeys(c for _, n in compare_choices(ctx, True, True) for c in ctx.zoo.info(n).classes)
    return [("(each model's own top-1)", "")] + [(c, c) for c in names]


def build(ctx: AppContext) -> None:
    """The Compare tab; it explains the Explore tab's image (ctx.inputs.image) and shows it."""
    with gr.Tab("Compare"):
        gr.Markdown("One image through the history of CNNs: LeNet, AlexNet, VGG, GoogLeNet, ResNet, DenseNet, "
                    "EfficientNet. The image is the Explore tab's.")
        with gr.Row():
            shown = gr.Image(label="Explore's image (yellow box: the crop the 32x32 models get)", interactive=False,
                             type="filepath", height=200, scale=1, buttons=[], elem_id="compare-image")
            with gr.Column(scale=3):
                # a multiselect list stays compact on a projector; custom values let the API name any model
                chosen = gr.Dropdown(compare_choices(ctx), value=ready_names(ctx), multiselect=True,
                                     allow_custom_value=True, label="Architectures")
                with gr.Row():
                    with gr.Column(min_width=200):
                        downloads = gr.Checkbox(label="Also offer models whose weights download on first use")
                        untrained = gr.Checkbox(label="Also offer untrained models (random weights)")
                    target = gr.Dropdown(class_union(ctx), value="", label="One class for every model")
                with gr.Row():
                    framed = gr.Checkbox(value=True, label="Crop the photo around the object for the 32x32 models")
                    zoom = gr.Slider(0.5, 3, value=1, step=0.05, label="Crop size (1: around the object)")
                button = gr.Button("Compare", variant="primary")
        note = gr.Markdown(label="Note", elem_id="compare-note")
        gallery = gr.Gallery(label="Grad-CAM per architecture", columns=4, object_fit="contain",
                             height="100%",  # its rows' own height: "auto" would cap it and scroll
                             elem_id="compare-gallery")
        seen = gr.Gallery(label="What each model sees (its input in pixels, one block per pixel)", columns=8,
                          object_fit="contain", height="100%", elem_id="compare-seen")
        table = gr.Dataframe(label="Architectures side by side", show_label=False, interactive=False)
    image = ctx.inputs.image
    image.change(lambda path: path, image, shown, api_visibility="private", queue=False)
    for box in (downloads, untrained):
        box.input(ctx.bind(compare_offer), [downloads, untrained, chosen], chosen, api_visibility="private",
                  queue=False)
    io = ([image, chosen, target, framed, zoom], [gallery, table, shown, seen, note])
    button.click(ctx.bind(compare), *io, api_name="compare", **ctx.shared)
    framed.input(ctx.bind(compare), *io, **ctx.private)  # the crop is adjusted: compare again
    zoom.release(ctx.bind(compare), *io, **ctx.private)
