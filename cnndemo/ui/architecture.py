"""The Architecture tab: one model's layer table, its totals and the seed's formulas worked on it.

It follows the model picked in Explore and redraws whenever its own picker changes (no button).
"""
from __future__ import annotations

import weakref

import gradio as gr
import pandas as pd

from cnndemo.convmath import first_conv_worked, formulas_text
from cnndemo.layertable import summary

from .common import DEFAULT_MODEL
from .components import model_picker
from .context import AppContext, follow_model, guarded

COLUMNS = ["layer", "type", "output shape", "parameters", "mult-adds"]
# every page load asks for one: the summary is kept per loaded model, and goes when the cache drops the model
_SUMMARIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@guarded("architecture", model_arg=1)
def architecture(ctx: AppContext, name: str):
    """The layer table (numbers with thousands separators), totals, teaching note and worked formulas."""
    info, explainer = ctx.zoo.info(name), ctx.cache.get(name)
    s = _SUMMARIES.get(explainer)
    if s is None:
        with explainer.lock:  # torchinfo hooks the same cached model an explain call may be using
            s = _SUMMARIES[explainer] = summary(explainer.model, info.input_size)
    rows = [[r.name, r.type, str(r.output_shape), f"{r.params:,}", f"{r.mult_adds:,}"] for r in s.rows]
    totals = (f"**{name}: {s.total_params:,} parameters**, {s.total_mult_adds:,} multiply-adds, "
              f"{s.params_mb:.2f} MB of weights  \n{info.note}  \n{first_conv_worked(explainer.model, info)}")
    totals += f"  \n{ctx.zoo.problem(name)}" if ctx.zoo.problem(name) else ""  # a download that failed here
    return pd.DataFrame(rows, columns=COLUMNS), totals


def build(ctx: AppContext) -> None:
    """The Architecture tab; its picker follows Explore's model (ctx.inputs.model)."""
    with gr.Tab("Architecture"):
        model = model_picker(ctx.zoo, DEFAULT_MODEL, label="Model (follows the Explore tab)")
        totals = gr.Markdown(label="Totals")
        table = gr.Dataframe(label="Layers", show_label=False, interactive=False, max_height=420)
        gr.Markdown(formulas_text())
    explore_model = ctx.inputs.model
    # the choices come along: a run trained in the Train tab joins the pickers while the page is open
    explore_model.change(ctx.bind(follow_model), explore_model, model, api_visibility="private", queue=False)
    # triggers=None: on page load and whenever the picker changes, by hand or following Explore
    gr.on(None, ctx.bind(architecture), model, [table, totals], api_name="architecture", **ctx.shared)
