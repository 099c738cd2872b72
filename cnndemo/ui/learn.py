"""The Learn tab: how the chosen CNN computes, step by step, on the student's own image (cnndemo.learn does the
work; this module only lays it out and wires the events)."""
from __future__ import annotations

import dataclasses
import functools
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from cnndemo import learn
from cnndemo.images import open_image
from cnndemo.learn.diagram import shape_text
from cnndemo.learn.figures import conv_step_figure, playground_figure, story_figure
from cnndemo.learn.kinds import COMPOSITE
from cnndemo.models import ModelInfo
from cnndemo.outputs import image_file

from .components import SafeImage
from .context import AppContext, follow_model, guarded
from .errors import need_image, user_errors

INTRO = ("## Learn: how a CNN computes, step by step\nEverything here is read from the chosen model and from one "
         "forward pass on your image (Explore's image, unless you upload another one here). Pick a block in the "
         "diagram, work out one convolution on real numbers, and see what each architecture introduced.")
MAX_INDEX = 4095  # sliders' bound before a layer is chosen (conv_step refuses positions outside the layer)
SVG_BOX = '<div style="max-height:460px;overflow:auto;border:1px solid #ddd">{}</div>'


@functools.lru_cache(maxsize=8)
def shapes_of(info: ModelInfo) -> tuple[learn.Trace, learn.Block]:
    """A model's shape-only trace and block tree (no weights, no image; cached per model): the diagram, the
    pickers, the shape trace."""
    model, x = learn.shape_model(info)
    tr = learn.trace(model, x)
    return tr, learn.block_tree(model, tr)


def _svg(root: learn.Block, depth: int, block: str | None, title: str) -> str:
    """The diagram in a scrolling box, with the picked block opened and marked."""
    opened = [block] if block else []
    return SVG_BOX.format(learn.diagram_svg(root, int(depth or 1), opened, block, title))


def block_choices(root: learn.Block) -> list[tuple[str, str]]:
    """(label, name) of the blocks worth picking: the top two levels and every residual / Inception / dense one."""
    blocks = [b for b in learn.walk(root) if b.level and b.calls and (b.level <= 2 or b.kind in COMPOSITE)]
    return [(f"{b.name} ({b.kind}, {shape_text(b.out_shape)})", b.name) for b in blocks]


def _first_block(root: learn.Block) -> str | None:
    """The block the view opens on: the first residual / Inception / dense one, else the first with children."""
    blocks = [b for b in learn.walk(root) if b.level and b.calls]
    pick = next((b for b in blocks if b.kind in COMPOSITE), None) or next((b for b in blocks if b.children), None)
    pick = pick or next(iter(blocks), None)
    return pick.name if pick else None


def conv_choices(tr: learn.Trace) -> list[tuple[str, str]]:
    """(label, name) of every convolution that ran, with its kernel, stride, padding and channels."""
    out = []
    for s in tr.steps:
        if s.kind == "convolution" and s.module and s.window is not None:
            w = s.window
            pad = f"{w.pad_before[0]}" if w.pad_before == w.pad_after else f"{w.pad_before[0]}/{w.pad_after[0]}"
            groups = f", groups {w.groups}" if w.groups > 1 else ""
            out.append((f"{s.name}: {w.kernel[0]}x{w.kernel[1]} stride {w.stride[0]} padding {pad}{groups}, "
                        f"{s.in_shape[1]} -> {s.out_shape[1]} channels", s.name))
    return list(dict.fromkeys(out))


# ---------- events ----------
@guarded("diagram", model_arg=1)
def diagram(ctx: AppContext, name: str):
    """The architecture diagram (top level) and every block as a table row."""
    _, root = shapes_of(ctx.zoo.info(name))
    return _svg(root, 1, None, name), pd.DataFrame(learn.block_rows(root))


@guarded("redraw_diagram", model_arg=1, timed=False)
def redraw_diagram(ctx: AppContext, name: str, depth: int, block: str | None):
    """The diagram redrawn at a depth, with a picked block opened."""
    _, root = shapes_of(ctx.zoo.info(name))
    return _svg(root, depth, block, name)


@guarded("learn_pickers", model_arg=1, timed=False)
def learn_pickers(ctx: AppContext, name: str):
    """The block and convolution pickers, the model-wide ideas and stacked 3x3 table of a newly chosen model."""
    tr, root = shapes_of(ctx.zoo.info(name))
    convs = conv_choices(tr)
    head = learn.head_view(tr)
    ideas = learn.head_text(head) if head else "This model has no fully connected layer."
    rows = learn.stacked_3x3(tr)
    stacks = gr.update(value=readable(rows), visible=bool(rows))  # no stacked 3x3 pair: no empty table
    return (gr.update(choices=block_choices(root), value=_first_block(root)),
            gr.update(choices=convs, value=convs[0][1] if convs else None), ideas, stacks)


@guarded("learn_limits", model_arg=1, timed=False)
def learn_limits(ctx: AppContext, name: str, layer: str | None):
    """The channel / row / column sliders set to the chosen convolution's output."""
    tr, _ = shapes_of(ctx.zoo.info(name))
    step = next((s for s in tr.steps if s.name == layer), None)
    if step is None:
        return gr.update(), gr.update(), gr.update()
    _, c, h, w = step.out_shape
    return (gr.update(maximum=c - 1, value=0), gr.update(maximum=h - 1, value=h // 2),
            gr.update(maximum=w - 1, value=w // 2))


def _model_input(ctx: AppContext, image, name: str):
    """The explainer of name and this image's kept forward record (its exact model input is record.x)."""
    explainer = ctx.cache.get(name)
    return explainer, explainer.record(need_image(image))


@guarded("conv_step")
def conv_step(ctx: AppContext, image, name: str, layer: str, channel: int, y: int, x: int):
    """One output value of a convolution as patch x kernel products, their sum and the bias, against the
    activation the forward produced; then the batch norm, activation and pooling after it."""
    explainer, rec = _model_input(ctx, image, name)
    with explainer.lock:  # the trace hooks the shared model: no other explain call meanwhile
        step = learn.conv_step(explainer.model, rec.x, layer, int(channel or 0), int(y or 0), int(x or 0))
    return conv_text(step, ctx.zoo.state(name).trained), conv_step_figure(step), conv_numbers(step)


def conv_text(step: learn.ConvStep, trained: bool) -> str:
    """The worked convolution as Markdown."""
    w = step.window
    pads = int(step.padded.sum())
    lines = [f"**{step.layer}**, output channel {step.channel}, row {step.y}, column {step.x}: kernel "
             f"{w.kernel[0]}x{w.kernel[1]}, stride {w.stride[0]}, padding {w.pad_before[0]} before and "
             f"{w.pad_after[0]} after" + (f", dilation {w.dilation[0]}" if w.dilation[0] > 1 else "")
             + (f", {w.groups} groups" if w.groups > 1 else "") + ".",
             f"The window reads input rows {step.rows[0]}..{step.rows[-1]} and columns {step.cols[0]}.."
             f"{step.cols[-1]} of {len(step.in_channels)} input channel(s); {pads} of its "
             f"{step.padded.size} taps lie on the padding (zeros)."]
    parts = [f"channel {t.channel}: {t.total:+.4f}" for t in step.terms]
    if len(step.in_channels) > len(step.terms):
        parts.append(f"the other {len(step.in_channels) - len(step.terms)} channels: {step.rest:+.4f}")
    lines.append("Sum of the products: " + ", ".join(parts) + f" = **{step.total:+.4f}**; plus the bias "
                 f"{step.bias:+.4f} = **{step.value:+.4f}**. The activation the forward produced (read by a hook): "
                 f"**{step.actual:+.4f}** (relative difference {step.error:.1e}).")
    lines += [f"Then **{f.name}** ({f.kind}): {f.text}; the forward gave {f.actual:+.4f}." for f in step.follow]
    if not trained:
        lines.append("_These are random weights (no trained weights here): the arithmetic is real, the filters "
                     "have learnt nothing yet._")
    return "  \n".join(lines)


def conv_numbers(step: learn.ConvStep) -> dict:
    """Every number of the worked convolution, for the API: patch, kernel, products, sum, bias, value, actual."""
    w = step.window
    return {"layer": step.layer, "channel": step.channel, "y": step.y, "x": step.x,
            "window": {"kernel": w.kernel, "stride": w.stride, "padding_before": w.pad_before,
                       "padding_after": w.pad_after, "dilation": w.dilation, "groups": w.groups},
            "input_rows": step.rows, "input_columns": step.cols, "padded": step.padded.tolist(),
            "channels": [{"input_channel": t.channel, "patch": t.patch.tolist(), "kernel": t.kernel.tolist(),
                          "products": t.products.tolist(), "sum": t.total} for t in step.terms],
            "other_channels_sum": step.rest, "sum": step.total, "bias": step.bias, "value": step.value,
            "actual": step.actual,
            "next": [{"layer": f.name, "kind": f.kind, "text": f.text, "value": f.value, "actual": f.actual}
                     for f in step.follow]}


@guarded("block")
def block(ctx: AppContext, image, name: str, block: str):
    """A block on this image: its branches with their shapes and channel maps, and what it computes."""
    explainer, rec = _model_input(ctx, image, name)
    with explainer.lock:
        view = learn.block_view(explainer.model, rec.x, block)
    gallery = [(image_file(b.maps), f"{b.name}: {_shape(b.shape)}") for b in view.branches
               if b.maps is not None]
    return block_text(view), gallery, gr.update(value=readable(view.table), visible=bool(view.table))


def readable(rows) -> pd.DataFrame:
    """Table rows as people read them: whole numbers with thousands separators (655,360), others to 4 digits."""
    return pd.DataFrame([{k: _number_text(v) for k, v in row.items()} for row in rows])


def _number_text(value):
    """655,360 for a whole number, 0.9312 for a float, anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def block_text(view: learn.BlockView) -> str:
    """The block view as Markdown: kind, shapes, branches, how they join, the facts."""
    lines = [f"**{view.block}** is a **{view.kind}**: {_shape(view.in_shape)} in, {_shape(view.out_shape)} out; "
             f"{view.merge}."]
    lines += [f"- {b.name}: {_shape(b.shape)}" + (f", {b.params:,} parameters" if b.params else "")
              for b in view.branches]
    return "\n".join(lines + [""] + [f"{f}  " for f in view.facts])


def _shape(shape) -> str:
    """A shape without the batch: 64x56x56."""
    return shape_text(shape) if shape else "?"


@guarded("receptive_field", model_arg=1)
def receptive_field(ctx: AppContext, name: str):
    """One row per layer: output size with the seed's formula filled in, receptive field and jump."""
    tr, _ = shapes_of(ctx.zoo.info(name))
    return pd.DataFrame([dataclasses.asdict(r) for r in learn.shape_trace(tr)])


@guarded("filters_softmax")
def filters_softmax(ctx: AppContext, image, name: str):
    """The first layer's filters next to their maps, and the softmax of this image."""
    explainer, rec = _model_input(ctx, image, name)
    with explainer.lock:
        filters = learn.first_filters(explainer.model, rec.x)
    view = learn.softmax_view(rec.logits, explainer.info.classes)
    note = "" if ctx.zoo.state(name).trained else \
        f"  \n_Random weights: these probabilities mean nothing yet._ {ctx.zoo.problem(name)}".rstrip()
    rows = readable([dataclasses.asdict(r) for r in view.rows])
    caption = f"First convolution **{filters.layer}**: each kernel (left) and its feature map here (right)."
    return image_file(filters.image), caption, learn.softmax_text(view) + note, rows


@user_errors("playground")
def play(size: int, kernel: int, stride: int, padding: int, dilation: int):
    """The playground: output size with the formula filled in and the window drawn, or the refusal alone."""
    text, result = learn.playground_outcome(size, kernel, stride, padding, dilation)
    return text, playground_figure(result) if result else None


@user_errors("story")
def tell_story():
    """The story table and chart, LeNet to EfficientNet."""
    rows = learn.story()
    return pd.DataFrame(learn.story_table(rows)), story_figure(rows)


# ---------- layout ----------
def _inputs(ctx: AppContext) -> dict:
    """The model picker (following Explore's) and the image (Explore's, or one uploaded here)."""
    with gr.Row():
        model = gr.Dropdown(ctx.zoo.choices(), value=ctx.inputs.model.value, label="Architecture", scale=2,
                            elem_id="learn-model")
        image = SafeImage(label="Image (Explore's, or upload one here)", type="filepath", image_mode=None,
                          sources=["upload", "clipboard"], height=170, scale=1,
                          elem_id="learn-image")
        run = gr.Button("Learn on this image", variant="primary", scale=1)
    return {"model": model, "image": image, "run": run}


def _diagram_section() -> dict:
    """1. The diagram with its depth slider and block picker, the block view beside it."""
    with gr.Accordion("1. Architecture diagram and what each block introduced", open=True):
        with gr.Row():
            depth = gr.Slider(1, 4, value=1, step=1, label="Depth shown (1 = top level)")
            block = gr.Dropdown(label="Block: opens it in the diagram and shows it on your image",
                                allow_custom_value=True)
        with gr.Row():
            with gr.Column(scale=3):
                svg = gr.HTML(label="Diagram (SVG)", elem_id="learn-diagram")
            with gr.Column(scale=2):
                block_md = gr.Markdown(label="Block")
                block_maps = gr.Gallery(label="Channel maps of each branch (first 4 channels)", columns=1,
                                        elem_id="learn-block-maps", object_fit="contain", height="auto",
                                        preview=False)
                block_table = gr.Dataframe(label="Block numbers", interactive=False, visible=False)
        with gr.Accordion("Every block (the diagram as a table)", open=False):
            blocks = gr.Dataframe(label="Every block", show_label=False, interactive=False)
        ideas = gr.Markdown()
        stacks = gr.Dataframe(label="Stacked 3x3 convolutions against one larger kernel (VGG's idea), "
                                    "for this model's channels", interactive=False)
    return {"depth": depth, "block": block, "svg": svg, "block_md": block_md, "block_maps": block_maps,
            "block_table": block_table, "blocks": blocks, "ideas": ideas, "stacks": stacks}


def _conv_section() -> dict:
    """2. One convolution worked out."""
    with gr.Accordion("2. One convolution worked out on your image", open=True):
        with gr.Row():
            layer = gr.Dropdown(label="Convolution", scale=3, allow_custom_value=True)
            # the maxima follow the chosen layer; this bound only keeps API calls inside what conv_step checks
            channel, y, x = (gr.Slider(0, MAX_INDEX, value=0, step=1, label=label)
                             for label in ("Output channel", "Row y", "Column x"))
            work = gr.Button("Work it out", variant="primary", scale=1)
        conv_md = gr.Markdown(label="Worked convolution", elem_id="learn-conv-text")
        conv_plot = gr.Plot(label="Patch, kernel and products")
        with gr.Accordion("All the numbers (JSON)", open=False):
            conv_json = gr.JSON(label="All the numbers", show_label=False)
    return {"layer": layer, "channel": channel, "y": y, "x": x, "work": work, "conv_md": conv_md,
            "conv_plot": conv_plot, "conv_json": conv_json}


def _other_sections() -> dict:
    """3. Shape trace, 4. filters and softmax, 5. playground, 6. story."""
    with gr.Accordion("3. Shape trace and receptive field", open=False):
        trace_table = gr.Dataframe(label="Shape trace", show_label=False, interactive=False)
    with gr.Accordion("4. First-layer filters and softmax", open=False):
        filters_md = gr.Markdown()
        filters = gr.Image(label="Kernels and their feature maps", interactive=False, elem_id="learn-filters")
        softmax_md = gr.Markdown()
        softmax_table = gr.Dataframe(interactive=False)
    with gr.Accordion("5. Playground: kernel, stride, padding, dilation", open=False):
        with gr.Row():
            sliders = [gr.Slider(lo, hi, value=v, step=1, label=label) for label, lo, hi, v in (
                ("Input size", 1, 16, 7), ("Kernel size", 1, 7, 3), ("Stride", 1, 4, 1), ("Padding", 0, 4, 0),
                ("Dilation", 1, 3, 1))]
        play_md = gr.Markdown()
        play_plot = gr.Plot()
    with gr.Accordion("6. The story: LeNet to EfficientNet", open=False):
        story_btn = gr.Button("Tell the story (computes each model's totals once)")
        story_table = gr.Dataframe(interactive=False)
        story_plot = gr.Plot()
    return {"trace_table": trace_table, "filters_md": filters_md, "filters": filters, "softmax_md": softmax_md,
            "softmax_table": softmax_table, "sliders": sliders, "play_md": play_md, "play_plot": play_plot,
            "story_btn": story_btn, "story_table": story_table, "story_plot": story_plot}


# ---------- wiring ----------
def _follow_explore(ctx: AppContext, ui: SimpleNamespace) -> None:
    """The tab follows Explore's model and image (it may still pick or upload its own)."""
    # the choices come along: a run trained in the Train tab joins the picker (else "not in the choices")
    ctx.inputs.model.change(ctx.bind(follow_model), ctx.inputs.model, ui.model, api_visibility="private")
    ctx.inputs.image.change(_as_picture, ctx.inputs.image, ui.image, api_visibility="private")


def _as_picture(value):
    """Explore's image value as something an image component shows (a pasted picture arrives as bytes)."""
    if value is None or isinstance(value, str):
        return value
    return open_image(value)


def _wire_model(ctx: AppContext, ui: SimpleNamespace) -> None:
    """A new model: diagram, pickers, model-wide ideas and the shape trace."""
    redraw_io = ([ui.model, ui.depth, ui.block], ui.svg)
    gr.on(None, ctx.bind(diagram), ui.model, [ui.svg, ui.blocks], api_name="diagram") \
        .then(ctx.bind(learn_pickers), ui.model, [ui.block, ui.layer, ui.ideas, ui.stacks],
              api_visibility="private") \
        .then(ctx.bind(redraw_diagram), *redraw_io, api_visibility="private") \
        .then(ctx.bind(receptive_field), ui.model, ui.trace_table, api_name="receptive_field")
    ui.layer.change(ctx.bind(learn_limits), [ui.model, ui.layer], [ui.channel, ui.y, ui.x],
                    api_visibility="private")
    ui.depth.release(ctx.bind(redraw_diagram), *redraw_io, api_visibility="private")


def _wire_image(ctx: AppContext, ui: SimpleNamespace) -> None:
    """Events that run the model on the image: the block view, the worked convolution, filters and softmax."""
    block_io = ([ui.image, ui.model, ui.block], [ui.block_md, ui.block_maps, ui.block_table])
    conv_io = ([ui.image, ui.model, ui.layer, ui.channel, ui.y, ui.x], [ui.conv_md, ui.conv_plot, ui.conv_json])
    side_io = ([ui.image, ui.model], [ui.filters, ui.filters_md, ui.softmax_md, ui.softmax_table])
    ui.block.input(ctx.bind(redraw_diagram), [ui.model, ui.depth, ui.block], ui.svg, api_visibility="private") \
        .then(ctx.bind(block), *block_io, api_name="block", **ctx.shared)
    ui.work.click(ctx.bind(conv_step), *conv_io, api_name="conv_step", **ctx.shared)
    ui.run.click(ctx.bind(filters_softmax), *side_io, **ctx.private) \
        .success(ctx.bind(block), *block_io, **ctx.private) \
        .success(ctx.bind(conv_step), *conv_io, **ctx.private)
    gr.on(None, play, ui.sliders, [ui.play_md, ui.play_plot], api_visibility="private")  # on load and each change
    ui.story_btn.click(tell_story, None, [ui.story_table, ui.story_plot], api_visibility="private")


def build(ctx: AppContext) -> None:
    """The Learn tab; it follows Explore's image and model (ctx.inputs)."""
    with gr.Tab("Learn"):
        gr.Markdown(INTRO)
        parts = {**_inputs(ctx), **_diagram_section(), **_conv_section(), **_other_sections()}
    ui = SimpleNamespace(**parts)
    _follow_explore(ctx, ui)
    _wire_model(ctx, ui)
    _wire_image(ctx, ui)
