"""The Trust tab: which heatmap to trust. Several methods side by side on Explore's image, every method scored by
deletion / insertion (ranked), and the sanity check that randomises the model's layers one stage at a time."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pandas as pd

from cnndemo import BadInputError
from cnndemo.explain import ExplainSettings, get_method, method_choices, methods
from cnndemo.explain.faithfulness import READING
from cnndemo.explain.picture import photo_for
from cnndemo.explain.sanity import WHY_CONVINCING
from cnndemo.explain.trustviews import RANK_COLUMNS, RANK_WIDTHS, chance_text, columns_text, rank_row, strip
from cnndemo.images import open_image
from cnndemo.outputs import image_file

from .components import model_choices, model_picker
from .context import AppContext
from .errors import need_image
from .explore import DEFAULT_MODEL, class_choices, knows_sentence, loading_progress

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


def _settings(method: str, target: str) -> ExplainSettings:
    """The settings every view of this tab uses (Explore's quicker IG and noise tunnel)."""
    return ExplainSettings(method=method, target=target or None, ig_steps=16, nt_samples=4)


def sider(ctx: AppContext):
    """The side-by-side event: one heatmap per ticked method, each captioned with what it computes."""
    @ctx.guarded("trust_grid")
    def side_by_side(image, name: str, chosen: list[str], target: str = "", progress=gr.Progress()):
        """(picture, 'label: summary') pairs for the gallery, and a caption naming the class."""
        if not chosen:
            raise BadInputError("Tick at least one method to show.")
        explainer = ctx.cache.get(name, loading_progress(progress))
        photo = photo_for(open_image(need_image(image, NO_IMAGE)), ctx.zoo.info(name).weights)
        tiles, lines, view = [], [], None
        for method in chosen:
            view = explainer.attribute(image, _settings(method, target))
            kind = get_method(method)
            tiles.append((image_file(photo.heat(view.heatmap, 0.5)), kind.label))
            lines.append(f"- **{kind.label}**: {kind.summary}")
        note = f"Every map is of **{view.target_name}** (p = {view.probability:.3f}) in {name}."
        return tiles, note + ("" if ctx.zoo.state(name).trained else UNTRAINED) + "\n\n" + "\n".join(lines)
    return side_by_side


def ranked_names(include_slower: bool) -> list[str]:
    """The methods the ranking scores: every quick one, and the slow ones only when asked."""
    return [m.name for m in methods() if include_slower or not m.slow]


def ranker(ctx: AppContext):
    """The /rank_methods event of this app."""
    @ctx.guarded("rank_methods")
    def rank_methods(image, name: str, target: str = "", include_slower: bool = False, progress=gr.Progress()):
        """Every method scored on the image and class, sorted by insertion minus deletion, with its time."""
        explainer = ctx.cache.get(name, loading_progress(progress))
        rows = explainer.rank(need_image(image, NO_IMAGE), ranked_names(bool(include_slower)), _settings("gradcam", target))
        table = [rank_row(get_method(m).label, get_method(m).summary, r, s) for m, r, s in rows]
        first = rows[0][1]
        note = (f"{len(rows)} methods scored for **{explainer.class_name(first.target)}** in {name} "
                f"({sum(s for *_, s in rows):.1f} s in all; maps already made for this picture are reused). "
                f"Sorted by insertion area minus deletion area. {READING} "
                + chance_text(explainer.chance(image, _settings("gradcam", str(first.target)))))
        return pd.DataFrame(table, columns=RANK_COLUMNS), note + ("" if ctx.zoo.state(name).trained else UNTRAINED)
    return rank_methods


def checker(ctx: AppContext):
    """The /sanity_check event of this app."""
    @ctx.guarded("sanity_check")
    def sanity_check(image, name: str, method: str = "gradcam", target: str = "", progress=gr.Progress()):
        """The strip of heatmaps as the layers are randomised from the output back, and the verdict."""
        explainer = ctx.cache.get(name, loading_progress(progress))
        result = explainer.sanity(need_image(image, NO_IMAGE), _settings(method or "gradcam", target))
        display = explainer.record(image).display
        verdict = (f"{result.verdict(get_method(result.method).label)} ({len(result.stages) - 1} stages, "
                   f"{result.seconds:.1f} s; class {explainer.class_name(result.target)}.)  \n{WHY_CONVINCING}")
        return image_file(strip(display, result)), verdict + ("" if ctx.zoo.state(name).trained else UNTRAINED)
    return sanity_check


def follow(ctx: AppContext):
    """The event after the model changes: its classes for the class picker and what it knows."""
    def followed(name: str):
        """Class choices (blank: top-1) and one sentence about the model."""
        classes = tuple(ctx.zoo.info(name).classes)
        return gr.update(choices=class_choices(classes, []), value=""), knows_sentence(ctx, name)
    return followed


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
    note = gr.Markdown(elem_id="trust-rank-note")
    table = gr.Dataframe(interactive=False, wrap=True, elem_id="trust-ranking", column_widths=RANK_WIDTHS,
                         max_height=900)  # every quick method without scrolling
    gr.Markdown(columns_text(), elem_id="trust-rank-columns")
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
    picture = gr.Image(show_label=False, interactive=False, type="filepath", buttons=["fullscreen"],
                       elem_id="trust-sanity")
    verdict = gr.Markdown(elem_id="trust-verdict")
    return {"method": method, "check": check, "strip": picture, "verdict": verdict}


def _wire(ctx: AppContext, ui: SimpleNamespace) -> None:
    """Follow Explore's image and model; one button per check."""
    image, explore_model = ctx.components["image"], ctx.components["model"]
    image.change(lambda path: path, image, ui.shown, api_visibility="private", queue=False)
    explore_model.change(lambda name: gr.update(choices=model_choices(ctx.zoo), value=name), explore_model,
                         ui.model, api_visibility="private", queue=False)
    gr.on(None, follow(ctx), ui.model, [ui.target, ui.knows], api_visibility="private", queue=False)
    ui.show.click(sider(ctx), [image, ui.model, ui.chosen, ui.target], [ui.gallery, ui.grid_note], **ctx.private)
    ui.score.click(ranker(ctx), [image, ui.model, ui.target, ui.include_slower], [ui.table, ui.rank_note],
                   api_name="rank_methods", **ctx.shared)
    ui.check.click(checker(ctx), [image, ui.model, ui.method, ui.target], [ui.strip, ui.verdict],
                   api_name="sanity_check", **ctx.shared)


def build(ctx: AppContext) -> None:
    """The Trust tab; it explains the Explore tab's image (ctx.components["image"]) with Explore's model."""
    with gr.Tab("Trust"):
        gr.Markdown(INTRO)
        parts = {**_top(ctx), **_grid(), **_ranking(), **_sanity()}
    _wire(ctx, SimpleNamespace(**parts))
