"""What stays as it is in every language, and the texts from data the catalogue translates: model, layer and
method names, code and numbers stay; class names and teaching notes come from data, not from tr() literals."""
from __future__ import annotations

KEPT_WORDS = frozenset({  # names a Korean course writes in Latin letters too (checked in lower case)
    "cnn", "cnndemo", "relu", "relu6", "onnx", "pytorch", "imagenet", "cifar", "mnist", "fashion", "lenet", "alexnet",
    "vgg", "googlenet", "inception", "resnet", "densenet", "efficientnet", "lite0", "grad-cam", "score-cam",
    "deeplift", "captum", "gradio", "safetensors", "t-sne", "fgsm", "pgd", "png", "jpeg", "rgb", "gpu", "cpu",
})


def DATA_TEXTS() -> list[str]:  # noqa: N802 - a constant computed on demand (it reads the registry)
    """Texts from data that the Korean catalogue translates through tr_name (class names, teaching notes)."""
    return []
