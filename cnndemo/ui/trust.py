"""The Trust tab: which heatmap to trust. Several methods side by side on Explore's image, every method scored by
deletion / insertion (ranked), and the sanity check that randomises the model's layers one stage at a time."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pandas as pd

from cnndemo import BadInputError
from cnndemo.explain import get_method, method_choices, methods
from cnndemo.explain.faithfulness import READING
from cnndemo.explain.sanity import WHY_CONVINCING
from cnndemo.explain.trustviews import RANK_COLUMNS, RANK_WIDTHS, chance_text, columns_text, rank_row, strip
from cnndemo.outputs import image_file

from .common import (DEFAULT_MODEL, class_choices, decoded, explain_settings, heat_files, knows_sentence,
                     loading_progress)
from .components import model_picker
from .context import AppContext, follow_model, guarded
from .errors import need_image

NO_IMAGE = "Trust uses the Explore tab's image: upload a photo, pick an example or draw a digit there first."
PREFERRED = ("gradcam", "gradcam_pp", "layercam", "saliency", "guided_backprop", "input_x_gradient")
SHOWN = 4  # methods ticked when the tab opens
UNTRAINED = "  \nThis model is untrained (random weights): its maps and scores explain nothing yet."
INTRO = ("### Which heatmap to trust?\nThe methods disagree, so check them: see several side by side, score each one "
         "by how much the class probability depends on the pixels it marks, and randomise the model's weights to "
         "see whether a map notices. The image is the Explore tab's; the model follows Explore's.")
SLOWER = ("Include slower methods ({}): they run the model many times per map, so scoring takes much longer")


def default_methods() -> list[str]:
    """The methods ticked at first: quick ones (one backward each) that show different ideas."""
    fast = [m.name for m in methods() if not m.slow]
    return ([name for name in PREFERRED if name in fast] + [n for n in fast if n not in PREFERRED])[:SHOWN]


@guarded("trust_grid")
def trust_grid(ctx: AppContext, image, name: str, chosen: list[str], target: str = "", progress=gr.Progress()):
    """The side-by-side event: one heatmap per ticked method over the picture (the gallery's (picture, 'label')
    pairs), and a caption naming the class and what each method computes."""
    if not chosen:
        raise BadInputError("Tick at least one method to show.")
    explainer = ctx.cache.get(name, loading_progress(progress))
    picture = decoded(image, NO_IMAGE)
    views = [explainer.attribute(picture, explain_settings(method, target)) for method in chosen]
    kinds = [get_method(method) for method in chosen]
    tiles = list(zip(heat_files(ctx, picture, name, views), [kind.label for kind in kinds]))
    lines = [f"- **{kind.label}**: {kind.summary}" for kind in kinds]
    note = f"Every map is of **{views[-1].target_name}** (p = {views[-1].probability:.3f}) in {name}."
    return tiles, note + ("" if ctx.zoo.state(name).trained else UNTRAINED) + "\n\n" + "\n".join(lines)


def ranked_names(include_slower: bool) -> list[str]:
    """The methods the ranking scores: every quick one, and the slow ones only when asked."""
    return [m.name for m in methods() if include_slower or not m.slow]


@guarded("rank_methods")
def rank_methods(ctx: AppContext, image, name: str, target: str = "", include_slower: bool = False,
                 progress=gr.Progress()):
    """Every method scored on the image and class, sorted by insertion minus deletion, with its time."""
    explainer = ctx.cache.get(name, loading_progress(progress))
    rows = explainer.rank(need_image(image, NO_IMAGE), ranked_names(bool(include_slower)),
                          explain_settings("gradcam", target))
    table = [rank_row(get_method(m).label, get_method(m).summary, r, s) for m, r, s in rows]
    first = rows[0][1]
    chance = explainer.chance(image, explain_settings("gradcam", str(first.target)))  # the level to read against
    note = (f"{len(rows)} methods scored for **{explainer.class_name(first.target)}** in {name} "
            f"({sum(s for *_, s in rows):.1f} s in all; maps already made for this picture are reused). "
            f"Sorted by insertion area minus deletion area. {READING} " + chance_text(chance))
    return pd.DataFrame(table, columns=RANK_COLUMNS), note + ("" if ctx.zoo.state(name).trained else UNTRAINED)


@guarded("sanity_check")
def sanity_check(ctx: AppContext, image, name: str, method: str = "gradcam", target: str = "",
                 progress=gr.Progress()):
    """The strip of heatmaps as the layers are randomised from the output back, and the verdict."""
    explainer = ctx.cache.get(name, loading_progress(progress))
    result = explainer.sanity(need_image(image, NO_IMAGE), explain_settings(method or "gradcam", target))
    display = explainer.record(image).display
    verdict = (f"{result.verdict(get_method(result.method).label)} ({len(result.stages) - 1} stages, "
               f"{result.seconds:.1f} s; class {explainer.class_name(result.target)}.)  \n{WHY_CONVINCING}")
    return image_file(strip(display, result)), verdict + ("" if ctx.zoo.state(name).trained else UNTRAINED)


def trust_model(ctx: AppContext, name: str):
    """The event after the model changes: its classes for the class picker (blank: top-1) and what it knows."""
    classes = tuple(ctx.zoo.info(name).classes)
    return gr.update(choices=class_choices(classes, []), value=""), knows_sentence(ctx, name)


def _top(ctx: AppContext) -> dict:
    """Explore's image, the model picker that follows Explore's, and the class."""
    with gr.Row(equal_height=False):
        shown = gr.Image(label="Explore's image (change it in the Explore tab)", interactive=False,
                         type="filepath", height=180, scale=1, buttons=[], elem_id="trust-image")
        with gr.Column(scale=3):
            model = model_picker(ctx.zoo, DEFAULT_MODEL, label="Model (follows the Explore tab)")
            knows = gr.Markdown()
            target = gr.Dropdown([("(top-1 class)", "")], value="", allow_custom_value=True, label="Class")
    return {"shown": shown, "model": model, "knows": knows, "target": target}


def _grid() -> dict:
    """Several methods side by side."""
    gr.Markdown("#### Side by side: the same picture and class, several methods")
    with gr.Row(equal_height=False):
        chosen = gr.CheckboxGroup(method_choices(), value=default_methods(), label="Methods", scale=5)
        show = gr.Button("Show side by side", variant="primary", scale=1)
    gallery = gr.Gallery(label="One heatmap per method", columns=4, object_fit="contain", elem_id="trust-gallery",
                         height="100%")  # its rows' own height: "auto" would leave a tall empty box
    note = gr.Markdown(elem_id="trust-grid-note")
    return {"chosen": chosen, "show": show, "grid_note": note, "gallery": gallery}


def _ranking() -> dict:
    """The scored, sorted table of every method."""
    gr.Markdown("#### Ranked: how much the class probability depends on what each map marks")
    slow = ", ".join(m.label for m in methods() if m.slow)
    with gr.Row(equal_height=False):
        include_slower = gr.Checkbox(label=SLOWER.format(slow), scale=5)
        score = gr.Button("Score every method", scale=1)
    note = gr.Markdown(label="Ranking note", elem_id="trust-rank-note")
    table = gr.Dataframe(label="Methods ranked", show_label=False, interactive=False, wrap=True,
                         elem_id="trust-ranking", column_widths=RANK_WIDTHS, max_height=900)  # every quick method without scrolling
    gr.Markdown(columns_text(), label="What the columns mean", elem_id="trust-rank-columns")
    return {"include_slower": include_slower, "score": score, "rank_note": note, "table": table}


def _sanity() -> dict:
    """The randomisation check of one method."""
    gr.Markdown("#### Sanity check: does the map notice when the weights are random? (Adebayo et al. 2018)\n"
                "A copy of the model gets random weights, from the output back, in up to 6 stages; each tile is the "
                "map after one more stage (\"to X\": every layer from the output down to X is random), with its rank "
                "correlation to the original. The cached model itself is not touched.")
    with gr.Row(equal_height=False):
        method = gr.Dropdown(method_choices(), value="gradcam", label="Method to check", scale=3)
        check = gr.Button("Randomise the layers, output first", scale=1)
    picture = gr.Image(label="Maps as the layers turn random", show_label=False, interactive=False,
                       type="filepath", buttons=["fullscreen"], elem_id="trust-sanity")
    verdict = gr.Markdown(label="Verdict", elem_id="trust-verdict")
    return {"method": method, "check": check, "strip": picture, "verdict": verdict}


def _wire(ctx: AppContext, ui: SimpleNamespace) -> None:
    """Follow Explore's image and model; one button per check."""
    image, explore_model = ctx.inputs.image, ctx.inputs.model
    image.change(lambda path: path, image, ui.shown, api_visibility="private", queue=False)
    explore_model.change(ctx.bind(follow_model), explore_model, ui.model, api_visibility="private", queue=False)
    gr.on(None, ctx.bind(trust_model), ui.model, [ui.target, ui.knows], api_visibility="private", queue=False)
    ui.show.click(ctx.bind(trust_grid), [image, ui.model, ui.chosen, ui.target], [ui.gallery, ui.grid_note],
                  **ctx.private)
    ui.score.click(ctx.bind(rank_methods), [image, ui.model, ui.target, ui.include_slower],
                   [ui.table, ui.rank_note], api_name="rank_methods", **ctx.shared)
    ui.check.click(ctx.bind(sanity_check), [image, ui.model, ui.method, ui.target], [ui.strip, ui.verdict],
                   api_name="sanity_check", **ctx.shared)


def build(ctx: AppContext) -> None:
    """The Trust tab; it explains the Explore tab's image (ctx.inputs.image) with Explore's model."""
    with gr.Tab("Trust"):
        gr.Markdown(INTRO)
        parts = {**_top(ctx), **_grid(), **_ranking(), **_sanity()}
    _wire(ctx, SimpleNamespace(**parts))
