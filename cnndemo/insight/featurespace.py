"""The feature space: what a network's penultimate layer makes of a data set, mapped to 2-D with t-SNE, with a
student's picture placed on the map and its nearest neighbours in feature space shown beside its nearest
neighbours in pixel space (the figure of CS231n's "Visualizing and Understanding" lecture: pixel neighbours share
colours, feature neighbours share classes).

The features are what the model's head (its last layer) reads, taken by the project's frozen-feature code
(cnndemo.train.features.head_inputs), which also checks that the head's output is the model's output.

Why scikit-learn's t-SNE (sklearn.manifold.TSNE, Barnes-Hut): it is the maintained library the two alternatives
build on, and the lightest. Measured here (Python 3.11, PyPI wheels): scikit-learn 1.9.1 is a 9.3 MB wheel and
installs in about 4 s (60 MB with joblib, threadpoolctl, cloudpickle and narwhals; numpy and scipy are here
already). openTSNE 1.0.4 needs scikit-learn too (3.5 MB more), and on 2,000 points of 50 dimensions on this
2-core machine it was slower than scikit-learn (its FFT gradients pay off on tens of thousands of points).
UMAP needs numba and llvmlite (tens of MB) and compiles its code on first use, which a classroom server would pay
at its first request. PCA to 50 dimensions first, as scikit-learn's documentation advises, makes t-SNE's
neighbour search cheap.

Placing a new picture: t-SNE learns positions for the points it was given, not a function of the features, so
it has no transform. The student's picture is placed at the mean 2-D position of its k nearest neighbours in
feature space: it lands among the pictures the network finds most like it (between two clusters when its
neighbours disagree), and the neighbours shown beside the map are exactly those k."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from cnndemo.data import BatchSpec, TensorData, to_input
from cnndemo.errors import BadInputError
from cnndemo.explain.guard import ModelGuard, layer_module
from cnndemo.images import ImageSource, model_input_image, open_image, seen_display
from cnndemo.models import ModelInfo

from .kept import Kept, private_copy, weights_key
from .pictures import Source, load_pictures, source_key


@dataclass(frozen=True)
class SpaceSettings:
    """How many pictures, how the map is made, and how pixel space is measured."""

    max_pictures: int = 2000
    min_pictures: int = 20  # t-SNE with fewer points shows no structure
    k: int = 8  # neighbours shown, and used to place a new picture
    perplexity: float = 30.0  # t-SNE's effective number of neighbours (capped at (n - 1) / 3)
    # t-SNE iterations (scikit-learn's least is 250, its early exaggeration): on 2,000 CIFAR-10 test pictures of
    # resnet18_cifar, 300 kept as many map neighbours in the picture's class as 500 (83.9 % vs 84.0 %) in 0.6x the time
    max_iter: int = 300
    pca_dims: int = 50
    pixel_side: int = 32  # pixel space: every picture at 32x32x3, values 0..1 (CIFAR-10's own size)
    thumb_side: int = 64  # thumbnails kept for the map and the neighbours
    seed: int = 0
    batch_size: int = 100


@dataclass(frozen=True, eq=False)
class FeatureSpace:
    """A data set in the model's feature space and in pixel space, and its t-SNE map."""

    model: str
    head: str  # the layer whose input the features are
    dataset: str  # names the pictures for a student
    classes: tuple[str, ...]
    labels: np.ndarray  # (N,) class numbers
    features: torch.Tensor  # (N, D) what the head reads for each picture
    pixels: torch.Tensor  # (N, 3 * pixel_side**2)
    xy: np.ndarray  # (N, 2) the t-SNE map
    thumbnails: np.ndarray  # (N, t, t, 3) uint8
    embed_seconds: float
    map_seconds: float


@dataclass(frozen=True)
class Neighbour:
    """One picture of the data set near the student's, in one space."""

    number: int
    label: str
    distance: float
    thumbnail: np.ndarray


@dataclass(frozen=True)
class Placement:
    """The student's picture on the map, with its nearest neighbours in feature space and in pixel space."""

    xy: tuple[float, float]
    picture: np.ndarray  # (H, W, 3) uint8, as the model sees it
    by_features: tuple[Neighbour, ...]
    by_pixels: tuple[Neighbour, ...]


SPACES: Kept[FeatureSpace] = Kept(max_items=4)  # the server's maps; 2,000 pictures keep about 50 MB


def feature_space(model: nn.Module, info: ModelInfo, source: Source, settings: SpaceSettings = SpaceSettings(),
                  kept: Kept[FeatureSpace] = SPACES) -> FeatureSpace:
    """The data set's features and map, computed once per (model, weights, data set, settings), then read."""
    key = ("space", info.name, info.input_size, weights_key(model), source_key(source, settings.max_pictures),
           settings)

    def build() -> FeatureSpace:
        """Read the pictures, embed them, map them."""
        pictures = load_pictures(source, settings.max_pictures, settings.min_pictures)
        start = time.perf_counter()
        features = penultimate(model, info, pictures.data.images, settings.batch_size)
        embedded = time.perf_counter()
        xy = tsne_map(features, settings)
        data = pictures.data
        return FeatureSpace(info.name, info.head_layer, pictures.label, data.classes, data.labels.numpy(), features,
                            pixel_vectors(data.images, settings.pixel_side), xy, thumbnails(data, settings.thumb_side),
                            embedded - start, time.perf_counter() - embedded)
    return kept.get(key, build)


def penultimate(model: nn.Module, info: ModelInfo, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """(N, D) what the model's head reads for each uint8 picture (N, C, h, w), resized to the model's input."""
    from cnndemo.train.features import head_inputs  # the project's frozen-feature code

    model = private_copy(model)  # the served model may be running other students' requests meanwhile
    head = layer_module(model, info.head_layer)
    spec = BatchSpec(info.input_size, info.mean, info.std)
    with ModelGuard(model):
        # bf16 and channels-last where the CPU has AMX (2x faster here; features within 0.3 %), else fp32
        found = head_inputs(model, head, images, spec, torch.device("cpu"), True, True, batch_size, None)
    if found is None:
        raise BadInputError(f"{info.name}'s layer {info.head_layer!r} is not the last step of its forward, so what "
                            "it reads is not the model's penultimate features; this view is not offered for it")
    return found.flatten(1)


def tsne_map(features: torch.Tensor, settings: SpaceSettings = SpaceSettings()) -> np.ndarray:
    """(N, 2) t-SNE positions of the features, after PCA to settings.pca_dims (scikit-learn)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = features.double().numpy()
    dims = min(settings.pca_dims, x.shape[0], x.shape[1])
    if dims < x.shape[1]:
        x = PCA(dims, random_state=settings.seed).fit_transform(x)
    tsne = TSNE(2, perplexity=min(settings.perplexity, (len(x) - 1) / 3), init="pca", learning_rate="auto",
                max_iter=settings.max_iter, random_state=settings.seed, n_jobs=torch.get_num_threads())
    return tsne.fit_transform(x).astype(np.float32)


def pixel_vectors(images: torch.Tensor, side: int = 32) -> torch.Tensor:
    """(N, 3 * side**2): each uint8 picture at side x side in colour, values 0..1 (grey copied to 3 channels)."""
    return to_input(images, BatchSpec((3, side, side), (0.0,) * 3, (1.0,) * 3)).flatten(1)


def thumbnails(data: TensorData, side: int = 64) -> np.ndarray:
    """(N, t, t, 3) uint8 thumbnails, t = side or the pictures' own size when smaller."""
    t = min(side, max(data.images.shape[2:]))
    x = to_input(data.images, BatchSpec((3, t, t), (0.0,) * 3, (1.0,) * 3))
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def nearest(vectors: torch.Tensor, queries: torch.Tensor, k: int, exclude_self: bool = False) -> torch.Tensor:
    """(Q, k) numbers of each query's k nearest vectors by Euclidean distance, nearest first (exclude_self: the
    queries are the vectors themselves, and a picture is not its own neighbour)."""
    d = torch.cdist(queries.float(), vectors.float())
    if exclude_self:
        d.fill_diagonal_(float("inf"))
    return d.topk(k, dim=1, largest=False).indices


def neighbour_agreement(space: FeatureSpace, k: int = 8) -> tuple[float, float]:
    """The share of each picture's k nearest neighbours that have its class, over the data set: (in feature space,
    in pixel space)."""
    labels = torch.from_numpy(space.labels)
    rates = []
    for vectors in (space.features, space.pixels):
        found = nearest(vectors, vectors, k, exclude_self=True)
        rates.append(float((labels[found] == labels[:, None]).float().mean()))
    return rates[0], rates[1]


def place(space: FeatureSpace, model: nn.Module, info: ModelInfo, image: ImageSource,
          settings: SpaceSettings = SpaceSettings()) -> Placement:
    """The student's picture (through the safe loader, resized and cropped as Explore does) on the map: at the
    mean position of its k nearest neighbours in feature space; with its neighbours in both spaces."""
    seen = model_input_image(open_image(image), info)
    pixels = seen_display(seen) if info.input_size[0] == 3 else np.asarray(seen)[..., None]
    as_input = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None]
    feature = penultimate(model, info, as_input, 1)
    by_features = nearest(space.features, feature, settings.k)[0]
    by_pixels = nearest(space.pixels, pixel_vectors(as_input, settings.pixel_side), settings.k)[0]
    xy = space.xy[by_features.numpy()].mean(0)
    return Placement((float(xy[0]), float(xy[1])), seen_display(seen),
                     _neighbours(space, space.features, feature[0], by_features),
                     _neighbours(space, space.pixels, pixel_vectors(as_input, settings.pixel_side)[0], by_pixels))


def _neighbours(space: FeatureSpace, vectors: torch.Tensor, query: torch.Tensor,
                found: torch.Tensor) -> tuple[Neighbour, ...]:
    """The found pictures as Neighbours, with their distance to the query."""
    return tuple(Neighbour(int(n), space.classes[int(space.labels[n])], float(torch.dist(vectors[n], query)),
                           space.thumbnails[n]) for n in found)


def feature_space_figure(space: FeatureSpace, placement: Placement | None = None, thumbs: int = 40) -> Figure:
    """The map in class colours with some thumbnails, the student's picture framed in red on it; beside it, its
    nearest neighbours in feature space above those in pixel space (legible at 1280x720)."""
    fig = Figure(figsize=(12.8, 7.2), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=(1.3, 1)) if placement is not None else (fig, None)
    ax = left.subplots()
    _draw_map(ax, space, thumbs)
    if placement is not None:
        _mark(ax, placement)
        _draw_neighbours(right, space, placement)
    fig.suptitle(f"{space.model}: {space.dataset}, mapped by t-SNE from the {space.features.shape[1]:,} numbers "
                 f"its layer {space.head!r} reads", fontsize=12)
    return fig


def map_figure(space: FeatureSpace, placement: Placement | None = None, thumbs: int = 40,
               size: tuple[float, float] = (8.0, 6.4)) -> Figure:
    """The map alone, in class colours with some thumbnails, the student's picture framed in red on it (for a page
    that shows the neighbours beside it at its own size)."""
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    _draw_map(ax, space, thumbs)
    ax.legend(fontsize=9, markerscale=2, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
              ncols=1 if len(space.classes) <= 10 else 2)  # beside the map: no thumbnail under it
    ax.set_title("each dot is a picture; alike pictures lie close", fontsize=9)  # as wide as the narrower map
    if placement is not None:
        _mark(ax, placement)
    fig.suptitle(f"{space.model}: the t-SNE map of the {space.features.shape[1]:,} numbers its layer {space.head!r} "
                 "reads", fontsize=10)
    return fig


def _mark(ax, placement: Placement) -> None:
    """The student's picture on the map, framed in red."""
    ax.add_artist(AnnotationBbox(OffsetImage(placement.picture, zoom=48 / placement.picture.shape[0]),
                                 placement.xy, frameon=True, bboxprops=dict(edgecolor="red", lw=3)))


def _colours(n: int) -> np.ndarray:
    """One colour per class: tab10 up to 10 classes, then tab20, then evenly spaced hues."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "hsv"]
    return cmap(np.arange(n) / (max(n, 1) if n > 20 else 1) if n > 20 else np.arange(n))


def _draw_map(ax, space: FeatureSpace, thumbs: int) -> None:
    """Every picture as a dot in its class colour, a legend, and a few pictures drawn at their place."""
    colours = _colours(len(space.classes))
    for c, name in enumerate(space.classes):
        at = space.labels == c
        ax.scatter(space.xy[at, 0], space.xy[at, 1], s=8, color=colours[c], label=name, alpha=0.7)
    zoom = 26 / space.thumbnails.shape[1]
    for n in np.linspace(0, len(space.xy) - 1, min(thumbs, len(space.xy))).astype(int):
        ax.add_artist(AnnotationBbox(OffsetImage(space.thumbnails[n], zoom=zoom), space.xy[n], frameon=True,
                                     pad=0.1, bboxprops=dict(edgecolor=colours[space.labels[n]], lw=1.5)))
    ax.legend(fontsize=9, markerscale=2, loc="best", ncols=1 if len(space.classes) <= 10 else 2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("each dot is a picture; pictures the network finds alike lie close", fontsize=10)


def _draw_neighbours(fig, space: FeatureSpace, placement: Placement) -> None:
    """The student's picture, then its neighbours in feature space and in pixel space, four to a row."""
    top, by_features, by_pixels = fig.subfigures(3, 1, height_ratios=(1, 2, 2))
    query, words = top.subplots(1, 2, width_ratios=(1, 3))
    query.imshow(placement.picture)
    query.set_title("your picture", fontsize=10, color="red")
    side = int(round((space.pixels.shape[1] / 3) ** 0.5))
    rows = ((by_features, placement.by_features, f"nearest in feature space ({space.features.shape[1]:,} numbers)"),
            (by_pixels, placement.by_pixels, f"nearest in pixel space ({side}x{side}x3 pixels)"))
    for sub, found, title in rows:
        sub.suptitle(title, fontsize=10, fontweight="bold")
        axes = sub.subplots(-(-len(found) // 4), 4, squeeze=False)
        for ax, neighbour in zip(axes.flat, found):
            ax.imshow(neighbour.thumbnail)
            ax.set_title(neighbour.label, fontsize=9)
        for ax in axes.flat:
            ax.set_axis_off()
    named = placement.by_features[0].label
    same = [sum(n.label == named for n in found) for _, found, _ in rows]
    words.text(0, 0.5, f"{same[0]} of {len(placement.by_features)} feature neighbours and {same[1]} of "
               f"{len(placement.by_pixels)} pixel\nneighbours are '{named}', the class of the\nnearest picture in "
               "feature space", fontsize=10, va="center")
    for ax in (query, words):
        ax.set_axis_off()
