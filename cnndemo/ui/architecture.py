"""The Architecture tab: one model's layer table, its totals and the seed's formulas worked on it."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from cnndemo.summary import first_conv_worked, formulas_text, summary

from .context import AppContext
from .explore import DEFAULT_MODEL


def architect(ctx: AppContext):
    """The /architecture event of this app."""
    @ctx.guarded("architecture", model_arg=0)
    def architecture(name: str):
        """The layer table, totals, teaching note and worked formulas of one model."""
        info, explainer = ctx.zoo.info(name), ctx.cache.get(name)
        with explainer.lock:  # torchinfo hooks the same cached model an explain call may be using
            s = summary(explainer.model, info.input_size)
        rows = [[r.name, r.type, str(r.output_shape), r.params, r.mult_adds] for r in s.rows]
        totals = (f"**{s.total_params:,} parameters**, {s.total_mult_adds:,} multiply-adds, "
                  f"{s.params_mb:.2f} MB of weights  \n{info.note}  \n{first_conv_worked(explainer.model, info)}")
        return pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters", "mult-adds"]), totals
    return architecture


def build(ctx: AppContext) -> None:
    """The Architecture tab."""
    with gr.Tab("Architecture"):
        model = gr.Dropdown(ctx.zoo.names(), value=DEFAULT_MODEL, label="Architecture")
        button = gr.Button("Show layers")
        totals = gr.Markdown()
        table = gr.Dataframe(interactive=False)
        gr.Markdown(formulas_text())
    button.click(architect(ctx), model, [table, totals], api_name="architecture")
