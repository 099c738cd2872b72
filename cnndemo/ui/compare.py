"""The Compare tab: the Explore tab's image through several architectures, top-3 and Grad-CAM side by side.

It opens on the models that are ready here, in the order of their history; untrained ones join only when asked.
"""
from __future__ import annotations

import gradio as gr
import pandas as pd

from cnndemo import BadInputError
from cnndemo.explain.picture import photo_for
from cnndemo.images import open_image
from cnndemo.learn.story import FAMILIES
from cnndemo.models import Readiness
from cnndemo.outputs import image_file

from .context import AppContext
from .errors import need_image
from .explore import loading_progress

NO_IMAGE = "Compare uses the Explore tab's image: upload a photo, pick an example or draw a digit there first."
COLUMNS = ["model", "year", "parameters", "accuracy here", "shown class", "top-1", "top-2", "top-3"]


def compare_choices(ctx: AppContext, downloads: bool = False, untrained: bool = False) -> list[tuple[str, str]]:
    """(label, name) pairs of the models Compare offers, oldest idea first: the ready ones, and those that
    download weights or are untrained only when asked."""
    wanted = {Readiness.READY} | ({Readiness.DOWNLOAD} if downloads else set()) | \
        ({Readiness.UNTRAINED} if untrained else set())
    entries = [e for e in ctx.zoo.grouped() if e.readiness in wanted]
    entries.sort(key=lambda e: (_year(ctx, e.name) or 9999))  # stable: readiness order within a year
    return [(_choice_label(ctx, e), e.name) for e in entries]


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
    recorded = spec.metrics()
    facts = [spec.dataset_label]
    if recorded and recorded.test_acc:
        facts.append(f"{recorded.test_acc:.1%}")
    if recorded and recorded.parameters:
        facts.append(_count(recorded.parameters) + " parameters")
    return f"{when}{entry.name} ({', '.join(facts)})"


def ready_names(ctx: AppContext) -> list[str]:
    """The models Compare ticks when it opens: for each family of the story, its first ready model."""
    firsts: dict[str, str] = {}
    for _, name in compare_choices(ctx):
        if ctx.zoo.info(name).family in FAMILIES:
            firsts.setdefault(ctx.zoo.info(name).family, name)
    return list(firsts.values())


def _accuracy(ctx: AppContext, name: str) -> str:
    """The test accuracy the weights' sidecar records ('' when none is)."""
    recorded = ctx.zoo.info(name).weights.metrics()
    return f"{recorded.test_acc:.1%}" if recorded and recorded.test_acc else ""


def _row(ctx: AppContext, r, trained: bool, parameters: int) -> list:
    """One table row: the model, its size and score, the class its map is for and its top 3 (hidden untrained)."""
    shown = r.attribution.target_name if trained else "(random weights)"
    top = [f"{c} ({p:.1%})" for c, p in r.top3] if trained else ["(untrained: hidden)"] * 3
    return [r.name, _year(ctx, r.name) or "", f"{parameters:,}", _accuracy(ctx, r.name), shown, *top]


def _caption(r, trained: bool) -> str:
    """A gallery caption: the class the map is for and its probability, or 'untrained'."""
    if not trained:
        return f"{r.name}: untrained (random weights, the map explains nothing)"
    a = r.attribution
    return f"{r.name}: {a.target_name} ({a.probability:.1%})"


def _count(n: int) -> str:
    """A parameter count for a short label: '8,490', '11.2 M'."""
    return f"{n:,}" if n < 1_000_000 else f"{n / 1e6:.1f} M"


def comparer(ctx: AppContext):
    """The /compare event of this app."""
    @ctx.guarded("compare")
    def compare(image, chosen: list[str], target: str = "", progress=gr.Progress()):
        """Top-3 and Grad-CAM (over the picture, of one fixed class where a model has it) per architecture."""
        need_image(image, NO_IMAGE)
        if not chosen:
            raise BadInputError("Tick at least one architecture to compare.")
        rows = ctx.cache.compare(image, list(chosen), target=target or None, progress=loading_progress(progress))
        picture = open_image(image)
        gallery, table = [], []
        for r in rows:
            trained = ctx.zoo.state(r.name).trained
            photo = photo_for(picture, ctx.zoo.info(r.name).weights)
            gallery.append((image_file(photo.heat(r.attribution.heatmap, 0.5)), _caption(r, trained)))
            table.append(_row(ctx, r, trained, sum(p.numel() for p in ctx.cache.get(r.name).model.parameters())))
        return gallery, pd.DataFrame(table, columns=COLUMNS)
    return compare


def offer(ctx: AppContext):
    """The event of the 'more models' checkboxes: the choices, and the ticks that are still offered."""
    def offered(downloads: bool, untrained: bool, ticked: list[str]):
        """Choices with or without the models that download weights and the untrained ones."""
        choices = compare_choices(ctx, downloads, untrained)
        names = {n for _, n in choices}
        return gr.update(choices=choices, value=[n for n in ticked if n in names])
    return offered


def class_union(ctx: AppContext) -> list[tuple[str, str]]:
    """Every class some model knows, for the fixed-class picker (blank: each model's own top-1)."""
    names = dict.fromkeys(c for _, n in compare_choices(ctx, True, True) for c in ctx.zoo.info(n).classes)
    return [("(each model's own top-1)", "")] + [(c, c) for c in names]


def build(ctx: AppContext) -> None:
    """The Compare tab; it explains the Explore tab's image (ctx.components["image"]) and shows it."""
    with gr.Tab("Compare"):
        gr.Markdown("One image through the history of CNNs: LeNet, AlexNet, VGG, GoogLeNet, ResNet, DenseNet, "
                    "EfficientNet. The image is the Explore tab's.")
        with gr.Row():
            shown = gr.Image(label="Explore's image (change it in the Explore tab)", interactive=False,
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
                button = gr.Button("Compare", variant="primary")
        gallery = gr.Gallery(label="Grad-CAM per architecture", columns=4, object_fit="contain",
                             height="100%",  # its rows' own height: "auto" would cap it and scroll
                             elem_id="compare-gallery")
        table = gr.Dataframe(label="Architectures side by side", show_label=False, interactive=False)
    image = ctx.components["image"]
    image.change(lambda path: path, image, shown, api_visibility="private", queue=False)
    for box in (downloads, untrained):
        box.input(offer(ctx), [downloads, untrained, chosen], chosen, api_visibility="private", queue=False)
    button.click(comparer(ctx), [image, chosen, target], [gallery, table], api_name="compare", **ctx.shared)
