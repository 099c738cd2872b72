"""Adversarial pictures (cnndemo.insight.fool): within epsilon on the PNG file, fooling the model after 8-bit rounding
and the upload path, with clear sentences for bad requests and the model left as it was."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from cnndemo.errors import BadInputError
from cnndemo.examples import example_image
from cnndemo.explain import Explainer, hooks_left
from cnndemo.images import model_input_image, open_image, to_tensor
from cnndemo.insight.fool import MAX_LEVELS, FoolSettings, PixelModel, amplified, fool, pixels_of, png_bytes


def read_back_class(model: torch.nn.Module, info, path) -> int:
    """The class the model gives a file read the one way pictures enter cnndemo (as Explore reads an upload)."""
    with torch.no_grad():
        return int(model(to_tensor(open_image(path), info)).argmax())


def png_pixels(path) -> np.ndarray:
    """The raw pixels of a PNG file, decoded by Pillow alone."""
    with Image.open(path) as img:
        return np.asarray(img).astype(np.int16)


def attacked_file(trained, tmp_path, name: str, settings: FoolSettings):
    """(model, info, result, the adversarial PNG's path, the original picture the attack started from)."""
    model, info = trained(name)
    photo = example_image("chelsea (cat)")
    result = fool(Explainer(model, info), photo, settings)
    path = tmp_path / "adversarial.png"
    path.write_bytes(result.png)
    return model, info, result, path, np.asarray(model_input_image(photo, info)).astype(np.int16)


@pytest.mark.slow
@pytest.mark.parametrize("settings", [FoolSettings("pgd", 2 / 255), FoolSettings("pgd", 4 / 255, target="frog")])
def test_the_png_is_within_epsilon_and_fools_the_model_read_back(trained, tmp_path, settings):
    """resnet18_cifar, the cat photo: the PNG differs from the original by <= epsilon levels, and read back
    through cnndemo.images it gets the adversarial class (not the cat's; the target's when one is set)."""
    model, info, result, path, original = attacked_file(trained, tmp_path, "resnet18_cifar", settings)
    assert np.abs(png_pixels(path) - original).max() <= settings.levels
    before = read_back_class(model, info, io.BytesIO(png_bytes(original.astype(np.uint8))))
    after = read_back_class(model, info, path)
    assert info.classes[after] == result.after[0][0] and info.classes[before] == result.before[0][0]
    assert after == info.classes.index(settings.target) if settings.target else after != before
    assert result.fooled


@pytest.mark.slow
def test_an_imagenet_attack_survives_the_resize_and_crop_of_an_upload(trained, tmp_path):
    """efficientnet_lite0, 'make it an ostrich' at 2/255: the 224 x 224 PNG, resized to 256 and centre-cropped
    again by the upload path (which does change its pixels), still reads back as an ostrich."""
    model, info, result, path, original = attacked_file(trained, tmp_path, "efficientnet_lite0",
                                                        FoolSettings("pgd", 2 / 255, target="ostrich"))
    assert png_pixels(path).shape == (224, 224, 3)
    assert np.abs(png_pixels(path) - original).max() <= 2
    assert not np.array_equal(np.asarray(model_input_image(open_image(path), info)), png_pixels(path))
    assert info.classes[read_back_class(model, info, path)] == "ostrich" and result.fooled


def test_fgsm_moves_each_pixel_by_epsilon_on_a_grey_model(trained, tmp_path):
    """lenet5_mnist: every pixel moves by exactly +-epsilon levels (or stays, at 0 / 255 or a zero gradient); the
    PNG is grey; `fooled` says what the read-back says."""
    model, info = trained("lenet5_mnist")
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    result = fool(Explainer(model, info), digit, FoolSettings("fgsm", 3 / 255))
    delta = result.adversarial.astype(np.int16) - digit
    assert set(np.unique(delta)) <= {-3, 0, 3} and np.abs(delta).max() == 3 == result.linf_levels
    with Image.open(io.BytesIO(result.png)) as img:
        assert img.mode == "L" and img.size == (28, 28)
    before = read_back_class(model, info, io.BytesIO(png_bytes(digit)))
    after = read_back_class(model, info, io.BytesIO(result.png))
    assert result.fooled == (after != before)
    assert result.cam_before.heatmap.shape == result.cam_after.heatmap.shape == (28, 28)


def test_the_model_is_left_as_it_was(trained):
    """Mode, requires_grad, weights and hooks are unchanged after an attack (model handed over in train mode)."""
    model, info = trained("lenet5_mnist")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fool(Explainer(model, info), np.full((28, 28), 40, np.uint8), FoolSettings("pgd", 2 / 255, steps=3))
    assert model.training and all(p.requires_grad for p in model.parameters()) and hooks_left(model) == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18_cifar"])
def test_pixel_model_feeds_what_the_upload_path_feeds(name):
    """PixelModel's resize, crop and normalisation give the tensor cnndemo.images makes of the same PNG (to PIL's
    own rounding of the resize: one level)."""
    from cnndemo.zoo import Zoo
    info = Zoo().info(name)
    _, h, w = info.input_size
    picture = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ours = PixelModel(torch.nn.Identity(), info)(pixels_of(picture))
    theirs = to_tensor(open_image(png_bytes(picture)), info)
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max() <= 1.01 / 255 / min(info.std)


@pytest.mark.parametrize("epsilon", [0, 33 / 255, 2.5 / 255, -2 / 255, "much", float("nan"), float("inf")])
def test_an_epsilon_out_of_range_gets_a_sentence(epsilon):
    """epsilon must be a whole number of levels from 1/255 to MAX_LEVELS/255."""
    with pytest.raises(BadInputError, match="epsilon must be"):
        FoolSettings("fgsm", epsilon)


def test_other_bad_settings_get_a_sentence():
    """An unknown attack and PGD steps out of range."""
    with pytest.raises(BadInputError, match="unknown attack"):
        FoolSettings("deepfool")
    with pytest.raises(BadInputError, match="PGD steps"):
        FoolSettings("pgd", steps=0)
    assert FoolSettings("FGSM", MAX_LEVELS / 255).levels == MAX_LEVELS


def test_bad_targets_get_a_sentence(trained):
    """A class the model has never heard of, and the class it already gives."""
    model, info = trained("lenet5_mnist")
    explainer, blank = Explainer(model, info), np.zeros((28, 28), np.uint8)
    with pytest.raises(BadInputError, match="unknown class"):
        fool(explainer, blank, FoolSettings("pgd", 2 / 255, target="ostrich"))
    top = explainer.predict(png_bytes(blank), 1)[0][0]
    with pytest.raises(BadInputError, match="already says"):
        fool(explainer, blank, FoolSettings("pgd", 2 / 255, target=top))


def test_the_perturbation_picture_is_mid_grey_for_no_change():
    """Unchanged pixels are 128; +-epsilon reach 255 / 1; the gain is said."""
    original = np.full((2, 2), 100, np.uint8)
    adversarial = np.array([[100, 102], [98, 100]], np.uint8)
    picture, gain = amplified(original, adversarial, 2)
    assert picture.tolist() == [[128, 255], [1, 128]] and gain == 63.5
