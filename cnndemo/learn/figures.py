"""Pictures for the Learn views: matplotlib figures (no pyplot state) and small numpy images with labels."""
from __future__ import annotations

import functools
import math

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image, ImageDraw, ImageFont

from cnndemo.explain.render import colorize

NUMBERS_UP_TO = 25  # kernels of up to 5x5 taps get their numbers written in
TILE = 176  # px per map or kernel: at least 160 on a 1280x720 projector, where these pictures show at their size
TITLE_PX, CAPTION_PX = 17, 15  # text heights in the tile pictures, readable from the back of a classroom


def conv_step_figure(step, rows: int = 3) -> Figure:
    """Where the window sits on the input (padding and stride drawn), then patch, kernel and products per channel."""
    shown = step.terms[:max(1, rows)]
    fig = Figure(figsize=(12, 0.4 + 2.4 * len(shown)), layout="constrained")
    grid = fig.add_gridspec(len(shown), 4, width_ratios=(1.3, 1, 1, 1))
    _where(fig.add_subplot(grid[:, 0]), step)
    for i, term in enumerate(shown):
        for j, (data, title) in enumerate(((term.patch, f"input channel {term.channel}"), (term.kernel, "kernel"),
                                           (term.products, f"products, sum {term.total:+.4f}"))):
            _numbers(fig.add_subplot(grid[i, j + 1]), data, title, step.padded if j == 0 else None)
    fig.suptitle(f"{step.layer}[{step.channel}, {step.y}, {step.x}]: sum of products {step.total:+.4f} "
                 f"+ bias {step.bias:+.4f} = {step.value:+.4f}; the real activation is {step.actual:+.4f}",
                 fontsize=13)
    return fig


def _where(ax, step) -> None:
    """The top channel's input near the window: pink cells are padding, red the window, dashed the next one."""
    data = np.ma.masked_invalid(step.around)
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="#f4b6c2")  # pink: the padding (NaN)
    r0, c0 = step.origin
    h, w = step.around.shape
    ax.imshow(data, cmap=cmap, extent=(c0 - 0.5, c0 + w - 0.5, r0 + h - 0.5, r0 - 0.5))
    win = step.window
    for dx, style in ((0, dict(edgecolor="red", lw=2.5)), (win.stride[1], dict(edgecolor="orange", lw=1.5, ls="--"))):
        left = step.cols[0] + dx
        if left + win.span(1) - 1 <= c0 + w - 1:
            ax.add_patch(Rectangle((left - 0.5, step.rows[0] - 0.5), win.span(1), win.span(0), fill=False,
                                   **style))
    ax.set_title(f"input channel {step.terms[0].channel} around the window (red)\nnext window: one stride "
                 f"({win.stride[1]}) on, dashed; pink: padding", fontsize=10)
    ax.set_xlabel("input column")
    ax.set_ylabel("input row")


def _numbers(ax, data: np.ndarray, title: str, padded: np.ndarray | None) -> None:
    """A small heat map with its values written in (for kernels up to 5x5)."""
    span = float(np.abs(data).max()) or 1.0
    ax.imshow(data, cmap="RdBu_r", vmin=-span, vmax=span)
    if data.size <= NUMBERS_UP_TO:
        for (i, j), v in np.ndenumerate(data):
            pad = padded is not None and padded[i, j]
            ink = "#a0005a" if pad else ("white" if abs(v) > 0.6 * span else "black")
            ax.text(j, i, "pad\n0" if pad else f"{v:.2f}", ha="center", va="center", fontsize=9, color=ink)
    ax.set_title(title, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])


def filters_image(weight: np.ndarray, maps: np.ndarray, limit: int = 12, tile: int = TILE) -> np.ndarray:
    """Each first-layer kernel as a picture next to its feature map for this image, both captioned."""
    n = min(limit, weight.shape[0])
    tiles = [t for i in range(n)
             for t in ((f"kernel {i}", _kernel_rgb(weight[i])), (f"its map {i}", _map_rgb(maps[i])))]
    colours = "as colours: the weight on red, green, blue; grey 0" if weight.shape[1] == 3 else "red +, blue -"
    title = (f"The first {n} of {weight.shape[0]} kernels ({weight.shape[2]}x{weight.shape[3]}, {colours}), "
             f"each next to the map it gives on this image ({maps.shape[1]}x{maps.shape[2]}, bright: strong)")
    return tile_grid(title, tiles, per_row=6, tile=tile)


def _kernel_rgb(kernel: np.ndarray) -> np.ndarray:
    """A kernel (C x k x k) as a picture: RGB for 3 input channels (scaled together), else a diverging map."""
    if kernel.shape[0] == 3:
        span = float(np.abs(kernel).max()) or 1.0
        return np.clip((kernel.transpose(1, 2, 0) / span + 1) * 127.5, 0, 255).astype(np.uint8)
    k = kernel.mean(axis=0)
    span = float(np.abs(k).max()) or 1.0
    return colorize((k / span + 1) / 2, "RdBu_r")


def _map_rgb(fmap: np.ndarray) -> np.ndarray:
    """A feature map scaled to its own range, in viridis."""
    lo, hi = float(fmap.min()), float(fmap.max())
    return colorize((fmap - lo) / (hi - lo) if hi > lo else np.zeros_like(fmap), "viridis")


def maps_image(act: np.ndarray, title: str = "", limit: int = 4, tile: int = TILE, per_row: int = 2) -> np.ndarray:
    """The first channels of one activation (C x H x W), each captioned with its number, under a title that says
    what they are (a vector is shown as 1x1 maps)."""
    act = act.reshape(-1, 1, 1) if act.ndim == 1 else act
    n = min(limit, act.shape[0])
    about = f"channels 0-{n - 1} of {act.shape[0]}, {act.shape[1]}x{act.shape[2]} each (own colour scale)"
    tiles = [(f"channel {i}", _map_rgb(act[i])) for i in range(n)]
    return tile_grid(f"{title}: {about}" if title else about, tiles, per_row, tile)


def tile_grid(title: str, tiles: list[tuple[str, np.ndarray]], per_row: int, tile: int = TILE) -> np.ndarray:
    """Pictures enlarged (nearest neighbour, so pixels stay pixels) to tile x tile, each under its caption, in a
    grid under a wrapped title; the text is large enough to read on a projector."""
    cols = max(1, min(per_row, len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    gap, cap, line = 10, 24, 22
    width = cols * (tile + gap) + gap
    lines = _wrap(title, _font(TITLE_PX), width - 2 * gap)
    head = 8 + line * len(lines)
    canvas = Image.new("RGB", (width, head + rows * (cap + tile + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    for k, text in enumerate(lines):
        draw.text((gap, 6 + line * k), text, fill="black", font=_font(TITLE_PX))
    for i, (caption, rgb) in enumerate(tiles):
        x, y = gap + (i % cols) * (tile + gap), head + (i // cols) * (cap + tile + gap)
        draw.text((x, y + 2), caption, fill="black", font=_font(CAPTION_PX))
        canvas.paste(Image.fromarray(rgb).resize((tile, tile), Image.Resampling.NEAREST), (x, y + cap))
    return np.asarray(canvas)


@functools.lru_cache(maxsize=4)
def _font(px: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (shipped with matplotlib, so no system font is needed) at px pixels."""
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), px)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """text broken into lines no wider than width pixels (a single word longer than that keeps its own line)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def playground_figure(result) -> Figure:
    """The padded input grid with the first two windows, and the output grid, for the playground."""
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    n = result.size + 2 * result.padding
    left, right = fig.subplots(1, 2, width_ratios=(n, max(result.out, 0.4 * n)))  # room for the title at 1x1
    cells = np.ones((n, n))
    p = result.padding
    cells[p:p + result.size, p:p + result.size] = 0.35
    left.imshow(cells, cmap="gray", vmin=0, vmax=1)
    span = result.dilation * (result.kernel - 1) + 1
    for k, (style, label) in enumerate(((dict(edgecolor="red", lw=3), "first window"),
                                        (dict(edgecolor="orange", lw=2, ls="--"), "next window"))):
        start = k * result.stride
        if start + span <= n:
            left.add_patch(Rectangle((start - 0.5, -0.5), span, span, fill=False, label=label, **style))
            taps = [start + i * result.dilation for i in range(result.kernel)]
            left.scatter([t for t in taps for _ in taps], [t for _ in taps for t in taps], s=12,
                         color=style["edgecolor"])
    left.set_title(f"input {result.size}x{result.size} (grey), padding {p} (white)\ndots: the kernel's taps",
                   fontsize=11)
    left.legend(loc="lower right", fontsize=10)
    cells = np.full((result.out, result.out, 3), 0.93)
    cells[0, 0] = (0.84, 0.15, 0.16)  # what the first window gives
    if result.out > 1:
        cells[0, 1] = (1.0, 0.65, 0.0)  # and the next one
    right.imshow(cells)
    right.set_title(f"output {result.out}x{result.out}", fontsize=11)
    for ax in (left, right):
        h, w = ax.get_images()[0].get_array().shape[:2]
        ax.set_xticks(range(0, w, math.ceil(w / 8)))  # every pixel up to 8, then every 2nd, ...: readable numbers
        ax.set_yticks(range(0, h, math.ceil(h / 8)))
        ax.tick_params(labelsize=9)
    fig.suptitle(result.formula, fontsize=13)
    return fig


def story_figure(rows: list) -> Figure:
    """Parameters, multiply-adds and depth of each model, oldest at the top: one bar per model and number, its
    value written at the bar's end, so no label can land on another."""
    fig = Figure(figsize=(12, 1.8 + 0.62 * len(rows)), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    names = [f"{r.model} ({r.family}, {r.year})\naccuracy here: {r.accuracy}" for r in rows]
    y = np.arange(len(rows))
    panels = ((axes[0], [r.params for r in rows], "parameters\n(log scale)", True),
              (axes[1], [r.mult_adds for r in rows], "multiply-adds per image\n(log scale)", True),
              (axes[2], [r.depth for r in rows], "depth\n(weight layers on the longest path)", False))
    for ax, values, title, log in panels:
        _bars(ax, y, values, log)
        ax.set_title(title, fontsize=11)
    axes[0].set_yticks(y, names, fontsize=10)
    axes[0].invert_yaxis()  # oldest at the top, as the story is told
    fig.suptitle("LeNet to EfficientNet: how big, how much work per image, how deep", fontsize=12)
    return fig


def _bars(ax, y: np.ndarray, values: list[int], log: bool) -> None:
    """Horizontal bars with each value written just past the bar's end (room is left for it)."""
    ax.barh(y, values, color="#4e79a7", alpha=0.8)
    top = max(values) or 1
    if log:
        ax.set_xscale("log")
        ax.set_xlim(min(values) / 3, top * 12)
    else:
        ax.set_xlim(0, top * 1.35)
    for yi, v in zip(y, values):
        ax.text(v * 1.15 if log else v + top * 0.02, yi, _short(v), va="center", fontsize=10)
    ax.tick_params(axis="x", labelsize=9)
    ax.tick_params(axis="y", length=0)


def _short(value: int) -> str:
    """62,006 as '62 k', 14,728,266 as '14.7 M', 857,445,258 as '857 M', 29 as '29'."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return str(value)
