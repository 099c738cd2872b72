"""cnndemo.learn against the real forward pass, independent hooks and published values."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnndemo import learn, models
from cnndemo.errors import BadInputError
from cnndemo.explain import hooks_left
from cnndemo.learn.kinds import COLOURS
from cnndemo.learn.figures import (TILE, TITLE_PX, _font, _map_rgb, _wrap, conv_step_figure, playground_figure,
                                   story_figure)
from cnndemo.learn.story import depth_story, model_depth

from conftest import text_clashes


def meta_model(name: str) -> tuple[nn.Module, torch.Tensor]:
    """A registry model and an input on shape-only tensors: structure, shapes and windows without arithmetic."""
    with torch.device("meta"):
        model = models.get_model(name)
    return model, torch.empty(1, *models.model_info(name).input_size, device="meta")


def hooked(model: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, tuple[tuple, torch.Tensor]]:
    """(input shape, output) of the named modules from plain forward hooks, independent of cnndemo.learn."""
    seen, modules = {}, dict(model.named_modules())

    def keeper(name):
        def hook(module, inputs, output):
            seen.setdefault(name, (tuple(inputs[0].shape), output.detach().clone()))  # returns None: output kept
            if len(seen) == len(names):
                raise _Seen
        return hook
    handles = [modules[n].register_forward_hook(keeper(n)) for n in names]
    try:
        with torch.no_grad():
            model(x)
    except _Seen:
        pass
    finally:
        for h in handles:
            h.remove()
    return seen


class _Seen(Exception):
    """Ends a hooked forward once every asked module has run (the rest of a big model is not needed)."""


# ---- receptive fields and depth against published values ----
@pytest.mark.parametrize("name,layer,rf", [
    ("vgg16", "features.28", 196), ("vgg16", "features.30", 212),  # last convolution, last pooling
    ("alexnet", "features.10", 163), ("alexnet", "features.12", 195),  # conv5, pool5
    ("resnet18", "layer4", 435),  # the largest path through the residual additions
])
def test_receptive_fields_equal_published_values(name, layer, rf):
    tr = learn.trace(*meta_model(name))
    assert tr.call(layer).rf.size == (rf, rf)


@pytest.mark.parametrize("name,depth", [("lenet5", 5), ("alexnet", 8), ("vgg16", 16), ("vgg19", 19),
                                        ("googlenet", 22), ("resnet18", 18), ("resnet50", 50),
                                        ("densenet121", 121), ("densenet201", 201)])
def test_depth_is_the_published_layer_count(name, depth):
    assert model_depth(name, models.model_info(name).input_size) == depth


# ---- the diagram ----
@pytest.mark.parametrize("name", models.list_models())
def test_diagram_lists_every_top_level_child(name):
    model, x = meta_model(name)
    root = learn.block_tree(model, learn.trace(model, x))
    top = [b.name for b in root.children]
    assert set(top) >= {n for n, _ in model.named_children()}
    assert all(b.kind in COLOURS for b in learn.walk(root))
    svg = learn.diagram_svg(root, title=name)
    drawn = [g.get("data-block") for g in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g")]
    assert drawn == top


def test_diagram_shapes_and_params_are_the_forward_and_the_module():
    model = models.get_model("resnet18_cifar")
    x = torch.randn(1, 3, 32, 32)
    root = learn.block_tree(model, learn.trace(model, x))
    seen = hooked(model, x, [b.name for b in root.children if isinstance(getattr(model, b.name, None), nn.Module)])
    for block in root.children:
        if block.name in seen:
            assert block.out_shape == tuple(seen[block.name][1].shape)
            assert block.params == sum(p.numel() for p in model.get_submodule(block.name).parameters())
    assert root.params == sum(p.numel() for p in model.parameters())


def test_diagram_folds_open_and_marks_kinds():
    model, x = meta_model("resnet18")
    root = learn.block_tree(model, learn.trace(model, x))
    assert [b.level for b in learn.visible(root, 1)] == [1] * len(root.children)
    opened = [b.name for b in learn.visible(root, 1, ["layer2.0"])]
    assert "layer2.0.conv1" in opened and "layer2.0.add" in opened and "layer3.0" not in opened
    kinds = {b.name: b.kind for b in learn.walk(root)}
    assert kinds["layer2"] == "stage" and kinds["layer2.0"] == "residual block" and kinds["fc"] == "classifier"
    svg = learn.diagram_svg(root, 2, selected="layer2.0")
    assert 'stroke="#d62728"' in svg and ET.fromstring(svg) is not None


@pytest.mark.parametrize("name,block,kind", [
    ("resnet18_cifar", "layer1.0", "residual block"), ("resnet50", "layer1.0", "residual block"),
    ("efficientnet_lite0", "_blocks.2", "residual block"), ("efficientnet_lite0", "_blocks.1", "conv block"),
    ("efficientnet_lite0", "_blocks", "stage"), ("googlenet", "inception3a", "Inception module"),
    ("googlenet_cifar", "a3", "Inception module"), ("mnist_inception", "incept1", "Inception module"),
    ("densenet121", "features.denseblock1", "dense block"), ("densenet121", "features.transition1", "transition"),
    ("densenet121", "features.denseblock1.denselayer1", "dense layer"), ("vgg16", "classifier", "classifier"),
    ("googlenet", "aux1", "classifier"), ("vgg16", "features", "conv block"),
])
def test_block_kinds_are_told_by_structure(name, block, kind):
    model, x = meta_model(name)
    assert learn.trace(model, x).kind_of(block) == kind


def test_a_block_that_adds_two_unrelated_tensors_is_not_residual():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            y = self.a(x)
            return y + y * 2  # an addition, but of one branch with itself, no shortcut of x

    model = nn.Sequential(Twice())
    assert learn.trace(model, torch.randn(1, 1, 5, 5)).kind_of("0") == "conv block"


# ---- a convolution worked out ----
def registry_conv_configs() -> dict[tuple, tuple[str, str]]:
    """Every distinct Conv2d configuration of the registry -> (model, layer), cheapest model first."""
    found: dict[tuple, tuple] = {}
    for name in models.list_models():
        model, _ = meta_model(name)
        size = models.model_info(name).input_size
        for i, (layer, c) in enumerate((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)):
            key = (type(c).__name__, c.kernel_size, c.stride, c.padding, c.dilation, c.padding_mode,
                   "depthwise" if c.groups == c.in_channels > 1 else c.groups, c.bias is not None)
            if key not in found or (size[1], i) < found[key][0]:
                found[key] = ((size[1], i), name, layer)
    return {k: v[1:] for k, v in found.items()}


CONFIGS = registry_conv_configs()


def _check_step(model: nn.Module, x: torch.Tensor, layer: str) -> None:
    """conv_step equals the hooked activation at corners and centre of the last output channel."""
    out = hooked(model, x, [layer])[layer][1]
    c, h, w = out.shape[1:]
    for y, xx in ((0, 0), (h - 1, w - 1), (h // 2, w // 2)):
        step = learn.conv_step(model, x, layer, c - 1, y, xx)
        real = float(out[0, c - 1, y, xx])
        scale = max(abs(real), sum(float(abs(t.products).sum()) for t in step.terms))
        assert abs(step.value - real) <= 1e-4 * scale, (layer, y, xx, step.value, real)
        assert step.actual == pytest.approx(real, rel=1e-6, abs=1e-7)
        assert step.total == pytest.approx(step.value - step.bias)
        for f in step.follow:
            assert f.value == pytest.approx(f.actual, rel=1e-4, abs=1e-5), (layer, f)


@pytest.mark.parametrize("config", list(CONFIGS), ids=lambda k: f"{CONFIGS[k][0]}:{CONFIGS[k][1]}")
def test_conv_step_equals_the_activation_for_every_registry_configuration(config):
    name, layer = CONFIGS[config]
    torch.manual_seed(0)
    model = models.get_model(name)
    c, h, w = models.model_info(name).input_size
    # ImageNet models at 64 px: the same layers (an even size keeps TF 'same' uneven), a 12x cheaper forward
    _check_step(model, torch.randn(1, c, min(h, 64), min(w, 64)), layer)


def _bn(c: int) -> nn.BatchNorm2d:
    """A batch norm with non-trivial running statistics and affine weights."""
    bn = nn.BatchNorm2d(c)
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.uniform_(bn.bias, -0.2, 0.2)
    return bn


@pytest.mark.parametrize("conv,pool", [
    (nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)),
    (nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=4), nn.AvgPool2d(3, 2, padding=1)),
    (nn.Conv2d(4, 5, (3, 5), stride=(1, 2), padding=(1, 2), padding_mode="reflect"),
     nn.AvgPool2d(2, count_include_pad=False, padding=1)),
    (nn.Conv2d(4, 5, 3, padding=1, padding_mode="circular"), nn.AdaptiveAvgPool2d(3)),
    (nn.Conv2d(4, 5, 3, padding=1, padding_mode="replicate"), nn.AdaptiveMaxPool2d(1)),
    (nn.Conv2d(4, 3, 4, padding="same"), nn.MaxPool2d(2, 2)),  # PyTorch 'same' with an even kernel: uneven padding
])
def test_conv_step_grouped_dilated_padding_modes_and_pools(conv, pool):
    torch.manual_seed(1)
    model = nn.Sequential(conv, _bn(conv.out_channels), nn.ReLU(), pool).eval()
    _check_step(model, torch.randn(1, 4, 11, 13), "0")
    step = learn.conv_step(model, torch.randn(1, 4, 11, 13), "0", 0, 0, 0)
    assert [f.kind for f in step.follow] == ["normalisation", "activation", "pooling"]


def test_conv_step_marks_padding_and_shows_the_top_channels():
    model = nn.Sequential(nn.Conv2d(8, 2, 3, stride=2, padding=1)).eval()
    step = learn.conv_step(model, torch.randn(1, 8, 6, 6), "0", 1, 0, 0, top=3)
    assert step.padded[0].all() and step.padded[:, 0].all() and not step.padded[1:, 1:].any()
    assert step.rows == (-1, 0, 1) and step.cols == (-1, 0, 1)
    assert len(step.terms) == 3 and len(step.in_channels) == 8
    assert abs(step.terms[0].total) >= abs(step.terms[-1].total)
    assert step.total == pytest.approx(sum(t.total for t in step.terms) + step.rest)
    assert (step.terms[0].patch[step.padded] == 0).all()


def test_conv_step_follows_lenet_functional_relu_and_pool():
    model = models.get_model("lenet5")
    step = learn.conv_step(model, torch.randn(1, 3, 32, 32), "cn2", 3, 9, 9)
    assert [f.name for f in step.follow] == ["relu#2", "max_pool2d#2"] and step.follow[1].position == (3, 4, 4)


def test_conv_step_refuses_with_a_sentence_and_leaves_the_model_alone():
    model = models.get_model("lenet5").train()
    x = torch.randn(1, 3, 32, 32)
    for layer, c, y, xx, words in (("fc1", 0, 0, 0, "not a convolution"), ("cn1", 6, 0, 0, "6 output channels"),
                                   ("cn1", 0, 28, 0, "28x28")):
        with pytest.raises(BadInputError, match=words):
            learn.conv_step(model, x, layer, c, y, xx)
    learn.conv_step(model, x, "cn1", 0, 0, 0)
    assert model.training and hooks_left(model) == 0 and all(p.requires_grad for p in model.parameters())


# ---- block views ----
def test_residual_view_shapes_are_the_forward():
    model, x = models.get_model("resnet18_cifar"), torch.randn(1, 3, 32, 32)
    view = learn.block_view(model, x, "layer2.0")
    seen = hooked(model, x, ["layer2.0", "layer2.0.bn2", "layer2.0.downsample"])
    x_in, fx, short, total, out = view.branches
    assert x_in.shape == seen["layer2.0"][0] and fx.shape == tuple(seen["layer2.0.bn2"][1].shape)
    assert short.shape == tuple(seen["layer2.0.downsample"][1].shape) and "projection" in short.name
    assert total.shape == out.shape == tuple(seen["layer2.0"][1].shape)
    assert fx.params == sum(p.numel() for n, p in model.layer2[0].named_parameters() if "downsample" not in n)
    assert all(b.maps is not None and b.maps.ndim == 3 for b in view.branches)
    assert "identity" in learn.block_view(model, x, "layer1.1").branches[2].name


def test_inception_view_branches_and_reduction_saving():
    model, x = models.get_model("mnist_inception"), torch.randn(1, 1, 28, 28)
    view = learn.block_view(model, x, "incept2")
    seen = hooked(model, x, ["incept2", "incept2.branch1x1", "incept2.branch5x5_2", "incept2.branch3x3dbl_3",
                             "incept2.branch_pool"])
    shapes = [tuple(seen[n][1].shape) for n in ("incept2.branch1x1", "incept2.branch5x5_2",
                                                 "incept2.branch3x3dbl_3", "incept2.branch_pool")]
    assert [b.shape for b in view.branches[:4]] == shapes
    assert view.branches[4].shape == view.out_shape == tuple(seen["incept2"][1].shape)
    assert view.merge.endswith("16 + 24 + 24 + 24 = 88")
    branch = view.table[0]  # 20 channels reduced to 16 before the 5x5
    assert (branch["input channels"], branch["reduced to"]) == (20, 16)
    five = model.incept2.branch5x5_2
    assert branch["parameters without"] == 5 * 5 * 20 * 24 + 24
    assert branch["parameters with"] == sum(p.numel() for p in model.incept2.branch5x5_1.parameters()) + sum(
        p.numel() for p in five.parameters())
    assert branch["mult-adds without"] == 5 * 5 * 20 * 24 * 4 * 4


@pytest.mark.slow
def test_googlenet_inception_saving_matches_torchinfo():
    from cnndemo.layertable import summary
    model = models.get_model("googlenet")
    view = learn.block_view(model, torch.randn(1, 3, 224, 224), "inception3a")
    rows = {r.name: r for r in summary(model, (3, 224, 224)).rows}
    two = view.table[0]
    names = ("inception3a.branch2.0.conv", "inception3a.branch2.1.conv")
    assert two["parameters with"] == sum(rows[n].params for n in names)
    assert two["mult-adds with"] == sum(rows[n].mult_adds for n in names)
    assert two["parameters without"] == 3 * 3 * 192 * 128


def test_dense_block_growth_and_transition_compression():
    model, x = models.get_model("densenet121_cifar"), torch.randn(1, 3, 32, 32)
    view = learn.block_view(model, x, "features.denseblock1")
    layers = [f"features.denseblock1.denselayer{i}" for i in range(1, 7)]
    seen = hooked(model, x, layers + ["features.transition1"])
    assert [r["output channels"] for r in view.table] == [seen[n][1].shape[1] for n in layers]
    assert {r["new maps"] for r in view.table} == {32}
    assert "64 -> 96 -> 128 -> 160 -> 192 -> 224 -> 256" in " ".join(view.facts)
    trans = learn.block_view(model, x, "features.transition1")
    assert trans.out_shape == tuple(seen["features.transition1"][1].shape)
    assert "256 -> 128 channels (x0.50)" in trans.facts[0]
    layer = learn.block_view(model, x, "features.denseblock1.denselayer2")
    assert layer.merge == "concatenate: 96 + 32 = 128 channels"


def test_block_view_of_a_stage_and_refusals():
    model, x = models.get_model("efficientnet_lite0"), torch.randn(1, 3, 64, 64)
    view = learn.block_view(model, x, "_blocks")
    assert [b.name for b in view.branches] == [f"_blocks.{i}" for i in range(16)]
    with pytest.raises(BadInputError, match="no block"):
        learn.block_view(model, x, "nope")
    with pytest.raises(BadInputError, match="training only"):
        learn.block_view(models.get_model("googlenet_cifar"), torch.randn(1, 3, 32, 32), "aux1")


# ---- model-wide ideas ----
def test_stacked_3x3_against_one_5x5_for_vgg16():
    model, x = meta_model("vgg16")
    rows = learn.stacked_3x3(learn.trace(model, x))
    pair = next(r for r in rows if r["first"] == "features.12")  # 256 -> 256 -> 256
    assert pair["receptive field"] == 5 and pair["second"] == "features.14"
    assert pair["parameters (two 3x3)"] == 2 * (9 * 256 * 256 + 256)
    assert pair["parameters (one 5x5)"] == 25 * 256 * 256 + 256
    assert pair["mult-adds (two 3x3)"] < pair["mult-adds (one 5x5)"]


def test_gap_against_flatten_generalises_the_seed():
    view = learn.head_view(learn.trace(*_googlenet_cifar_at_32()))
    assert view.uses_gap and view.maps == (1024, 8, 8) and view.classes == 10
    assert view.fc_weights == 655_360 and view.gap_weights + view.biases == 10_250  # the seed's two numbers
    assert "655,360" in learn.head_text(view) and "10,250" in learn.head_text(view)
    alex = learn.head_view(learn.trace(*meta_model("alexnet")))
    assert not alex.uses_gap and alex.maps == (256, 6, 6) and alex.fc_weights == 256 * 36 * 4096


def _googlenet_cifar_at_32() -> tuple[nn.Module, torch.Tensor]:
    model, _ = meta_model("googlenet_cifar")
    return model, torch.empty(1, 3, 32, 32, device="meta")


# ---- filters, softmax, playground, story ----
def _find_tile(picture: np.ndarray, tile: np.ndarray) -> tuple[int, int] | None:
    """Where tile sits in picture (top-left corner), or None."""
    h, w = tile.shape[:2]
    for y in range(picture.shape[0] - h + 1):
        for x in np.flatnonzero((picture[y, : picture.shape[1] - w + 1] == tile[0, 0]).all(axis=1)):
            if np.array_equal(picture[y:y + h, x:x + w], tile):
                return y, int(x)
    return None


def test_block_maps_are_projector_sized_channels_under_a_title():
    model, x = models.get_model("googlenet_cifar").eval(), torch.randn(1, 3, 32, 32)
    view = learn.block_view(model, x, "a3")
    branch = view.branches[0]
    assert branch.name == "branch 1: Conv2d 1x1" and min(branch.maps.shape[:2]) >= 2 * TILE >= 320
    real = hooked(model, x, ["a3.block1"])["a3.block1"][1][0].numpy()
    for c in range(4):  # each of the first 4 channels is in the picture at TILE x TILE, pixels kept as pixels
        enlarged = np.asarray(Image.fromarray(_map_rgb(real[c])).resize((TILE, TILE), Image.Resampling.NEAREST))
        where = _find_tile(branch.maps, enlarged)
        assert where is not None and where[0] >= 2 * 22, c  # below a title of at least two lines


def test_tile_titles_wrap_inside_the_picture():
    font = _font(TITLE_PX)
    text = "branch 3: Conv2d 1x1 -> Conv2d 3x3 -> Conv2d 3x3: channels 0-3 of 32, 32x32 each (own colour scale)"
    lines = _wrap(text, font, 2 * TILE)
    assert " ".join(lines) == text and len(lines) > 1 and all(font.getlength(line) <= 2 * TILE for line in lines)


def test_first_filters_are_the_weights_and_the_maps():
    model, x = models.get_model("alexnet_cifar"), torch.randn(1, 3, 32, 32)
    view = learn.first_filters(model, x, limit=16)
    assert view.layer == "features.0"
    assert torch.equal(torch.from_numpy(view.weight), model.features[0].weight.detach())
    real = hooked(model, x, ["features.0"])["features.0"][1][0]
    assert torch.allclose(torch.from_numpy(view.maps), real)
    assert view.image.ndim == 3 and view.image.shape[2] == 3


@pytest.mark.parametrize("scale", [1.0, 80.0])  # 80: large logits are shifted by their maximum first
def test_softmax_equals_torch_softmax(scale):
    torch.manual_seed(0)
    logits = torch.randn(1, 10) * scale
    classes = [f"c{i}" for i in range(10)]
    view = learn.softmax_view(logits, classes, top=4)
    p = torch.softmax(logits.double(), dim=1)[0]
    assert [r.index for r in view.rows] == torch.argsort(logits[0], descending=True)[:4].tolist()
    for r in view.rows:
        assert r.probability == pytest.approx(float(p[r.index]), rel=1e-9)
        assert r.exp / view.total == pytest.approx(r.probability)
        assert r.name == classes[r.index]
    assert view.total == pytest.approx(sum(r.exp for r in view.rows) + view.others)
    assert (view.shift > 0) == (scale > 10)
    assert "c" in learn.softmax_text(view)


def test_softmax_of_a_real_model_forward():
    model, info = models.get_model("lenet5"), models.model_info("lenet5")
    x = torch.randn(1, 3, 32, 32)
    logits = model(x).detach()
    view = learn.softmax_view(logits, info.classes)
    assert view.rows[0].probability == pytest.approx(float(torch.softmax(logits, 1).max()), rel=1e-6)


@pytest.mark.parametrize("size,k,s,p,d", [(5, 3, 1, 0, 1), (7, 3, 2, 1, 1), (8, 2, 2, 0, 1), (6, 3, 1, 2, 2),
                                          (9, 5, 3, 1, 1), (1, 1, 1, 0, 1), (4, 4, 1, 0, 1)])
def test_playground_output_size_is_the_real_one(size, k, s, p, d):
    result = learn.playground(size, k, s, p, d)
    real = nn.Conv2d(1, 1, k, s, p, d)(torch.zeros(1, 1, size, size)).shape[-1]
    assert result.out == real and result.formula.split(" = ")[-1].split()[0] == str(real)


@pytest.mark.parametrize("args,words", [((5, 7, 1, 0, 1), "does not fit"), ((5, 3, 1, 0, 3), "dilation 3"),
                                         ((5, 3, 0, 0, 1), "stride must be"), ((5, 3, 1, -1, 1), "padding must"),
                                         ((5, 2.5, 1, 0, 1), "kernel must be a whole number")])
def test_playground_refuses_impossible_settings(args, words):
    with pytest.raises(BadInputError, match=words):
        learn.playground(*args)


def test_playground_outcome_shows_the_refusal_alone():
    text, result = learn.playground_outcome(3, 3, 2, 0, 1)
    assert result.out == 1 and result.formula in text
    text, result = learn.playground_outcome(3, 7, 2, 0, 1)  # the setting: a 7x7 kernel on 3x3
    assert result is None and "does not fit" in text and "out =" not in text and text.count("does not fit") == 1


def test_story_reads_the_sidecars_and_computes_the_rest():
    from cnndemo import checkpoints
    from cnndemo.models.weights import shipped_path
    rows = learn.story(["lenet5", "efficientnet_lite0", "resnet18_cifar"])
    assert [r.model for r in rows] == ["lenet5", "resnet18_cifar", "efficientnet_lite0"]  # by year
    lenet, resnet, lite = rows
    acc = checkpoints.read_meta(shipped_path("resnet18_cifar"))["metrics"]["test_acc"]
    assert resnet.accuracy.startswith(f"{100 * acc:.2f} %") and resnet.depth == 18
    assert lite.accuracy == "ImageNet weights (package)" and lite.year == learn.FAMILIES["EfficientNet"][0]
    assert lenet.params == sum(p.numel() for p in models.get_model("lenet5").parameters())
    assert lenet.mult_adds > lenet.params and lenet.depth == 5
    assert resnet.depth_text == "18 = 17 conv + 1 FC; each residual block adds 2"
    assert lenet.depth_text.startswith("5 = 2 conv + 3 FC") and lenet.published.startswith("LeNet-5: 5 = ")


@pytest.mark.parametrize("name,text", [
    ("vgg16_bn_cifar", "14 = 13 conv + 1 FC"),  # the CIFAR form has one fully connected layer, the paper three
    ("googlenet_cifar", "29 = 28 conv + 1 FC; each Inception module adds 3"),  # its 5x5 branch is two 3x3
    ("alexnet", "8 = 5 conv + 3 FC"), ("vgg16", "16 = 13 conv + 3 FC"),
    ("googlenet", "22 = 21 conv + 1 FC; each Inception module adds 2"),
    ("resnet18", "18 = 17 conv + 1 FC; each residual block adds 2"),
    ("densenet121", "121 = 120 conv + 1 FC; each dense layer adds 2")])
def test_depth_says_what_it_counts_and_the_paper_forms_match_the_papers(name, text):
    depth, said = depth_story(name, models.model_info(name).input_size)
    assert said == text and depth == int(text.split()[0])
    if models.model_info(name).torchvision_name:  # the ImageNet form is the paper's network: the paper's count
        conv, fc = re.match(r"\d+ = (\d+) conv \+ (\d+) FC", said).groups()
        published = learn.FAMILIES[models.model_info(name).family][2]
        assert f": {depth} " in published and f"{conv} conv" in published and f"{fc} FC" in published


def test_story_chart_has_no_overlapping_or_cut_off_text():
    rows = learn.story()
    fig = story_figure(rows)
    assert text_clashes(fig) == [] and len(rows) == len(learn.FAMILIES)
    assert [t.get_text().split(" (")[0] for t in fig.axes[0].get_yticklabels()] == [r.model for r in rows]


@pytest.mark.parametrize("size,k,s,p,d", [(7, 3, 1, 0, 1), (16, 3, 1, 4, 1), (1, 1, 1, 0, 1), (1, 11, 8, 8, 1),
                                          (16, 1, 1, 0, 1), (16, 5, 4, 2, 3), (3, 3, 2, 0, 1)])
def test_playground_figure_text_is_clear(size, k, s, p, d):
    assert text_clashes(playground_figure(learn.playground(size, k, s, p, d))) == []


@pytest.mark.parametrize("name,layer,y,x", [("lenet5", "cn1", 5, 5), ("resnet18_cifar", "layer2.0.conv1", 0, 0)])
def test_conv_step_figure_text_is_clear(name, layer, y, x):
    step = learn.conv_step(models.get_model(name).eval(), torch.randn(1, 3, 32, 32), layer, 1, y, x)
    fig = conv_step_figure(step)
    assert text_clashes(fig) == [] and min(t.get_fontsize() for ax in fig.axes for t in ax.texts) >= 9


def test_story_table_says_what_each_number_counts():
    table = learn.story_table(learn.story(["googlenet_cifar"]))
    assert table[0]["depth here (weight layers on the longest path)"].startswith("29 = 28 conv + 1 FC")
    assert table[0]["depth in the paper"].startswith("GoogLeNet: 22 layers with weights")


def test_story_picks_one_model_per_family_in_order():
    names = learn.story_models()
    families = [models.model_info(n).family for n in names]
    assert families == [f for f in learn.FAMILIES if f in families] and len(set(families)) == len(families)
    assert "efficientnet_lite0" in names
