"""The Compare tab: the Explore tab's image through several architectures, top-3 and Grad-CAM side by side."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from cnndemo import BadInputError
from cnndemo.outputs import image_file

from .context import AppContext
from .errors import need_image

STORY = ("lenet5", "alexnet_cifar", "vgg16_bn_cifar", "googlenet_cifar", "resnet18_cifar", "densenet121_cifar",
         "efficientnet_lite0")  # the history of CNNs, ticked by default


def _outputs(rows: list, trained: list[bool]) -> tuple[list, pd.DataFrame]:
    """A captioned Grad-CAM gallery and a top-3 table; an untrained model's guesses stay hidden."""
    gallery = [(image_file(r.overlay),
                f"{r.name}: {r.top3[0][0]} ({r.top3[0][1]:.2f})" if ok else f"{r.name}: untrained")
               for r, ok in zip(rows, trained)]
    table = [[r.name, ok] + ([f"{c} ({p:.2f})" for c, p in r.top3] if ok else ["(untrained: hidden)"] * 3)
             for r, ok in zip(rows, trained)]
    return gallery, pd.DataFrame(table, columns=["model", "trained", "top-1", "top-2", "top-3"])


def comparer(ctx: AppContext):
    """The /compare event of this app."""
    @ctx.guarded("compare")
    def compare(image, chosen: list[str]):
        """Top-3 and Grad-CAM of one image through several architectures."""
        if not chosen:
            raise BadInputError("Tick at least one architecture to compare.")
        rows = ctx.cache.compare(need_image(image), list(chosen))
        return _outputs(rows, [ctx.zoo.state(r.name).trained for r in rows])
    return compare


def build(ctx: AppContext) -> None:
    """The Compare tab; it explains the Explore tab's image (ctx.components["image"])."""
    names = ctx.zoo.names()
    with gr.Tab("Compare"):
        gr.Markdown("One image through the history of CNNs: LeNet, AlexNet, VGG, GoogLeNet, ResNet, DenseNet.")
        chosen = gr.CheckboxGroup(names, value=[n for n in STORY if n in names], label="Architectures")
        button = gr.Button("Compare", variant="primary")
        gallery = gr.Gallery(label="Grad-CAM per architecture", columns=4)
        table = gr.Dataframe(interactive=False)
    button.click(comparer(ctx), [ctx.components["image"], chosen], [gallery, table], api_name="compare",
                 **ctx.shared)
