"""The history lesson on a photo: a crop around the object for the small-picture models (cnndemo.explain.framing)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnndemo import BadInputError
from cnndemo.examples import example_image, placed
from cnndemo.explain import ModelCache
from cnndemo.explain.framing import (FRAMER, Box, box_around, boxed, crop, framed_compare, framing_note, heat_region,
                                     object_box, small_picture_sentence, wants_framing)
from cnndemo.models import model_info

SIX = ["lenet5", "alexnet_cifar", "vgg16_bn_cifar", "googlenet_cifar", "resnet18_cifar", "densenet121_cifar"]
HORSE = "horse (silhouette)"


@pytest.fixture(scope="module")
def cache():
    """The app's models with their shipped weights (the CIFAR-10 six, the ImageNet framer)."""
    from cnndemo.zoo import Zoo
    return ModelCache(Zoo().load, max_models=8)


def test_a_square_box_fits_inside_the_picture_and_keeps_its_centre_where_it_can():
    assert Box.square(50, 50, 40, 200, 100).as_tuple() == (30, 30, 70, 70)
    assert Box.square(5, 95, 40, 200, 100).as_tuple() == (0, 60, 40, 100)  # moved inside, not cut
    assert Box.square(100, 50, 500, 200, 100).as_tuple() == (50, 0, 150, 100)  # at most the short side
    box = Box(10, 10, 30, 30)
    assert box.zoomed(2, 200, 100).as_tuple() == (0, 0, 40, 40) and box.zoomed(0.5, 200, 100).width == 10
    assert Box(-5, 90, 50, 150).clamped(200, 100).as_tuple() == (0, 90, 50, 100)


def test_a_bad_box_gets_a_sentence():
    with pytest.raises(BadInputError, match="right > left"):
        Box(10, 0, 10, 5)
    with pytest.raises(BadInputError, match="outside"):
        Box(300, 0, 400, 50).clamped(200, 100)
    with pytest.raises(BadInputError, match="above 0"):
        Box(0, 0, 5, 5).zoomed(0, 10, 10)


def test_the_heat_region_is_the_blob_around_the_peak_not_every_warm_spot():
    heat = np.zeros((20, 30), np.float32)
    heat[2:6, 3:9] = 0.8  # a warm spot elsewhere
    heat[10:16, 18:26] = 0.9
    heat[12, 20] = 1.0
    assert heat_region(heat).as_tuple() == (18, 10, 26, 16)
    assert heat_region(np.zeros((4, 6), np.float32)).as_tuple() == (0, 0, 6, 4)  # no heat: the whole picture


def test_a_heat_region_becomes_a_square_in_picture_pixels_with_a_margin():
    box = box_around(Box(10, 20, 40, 24), (4.0, 4.0), 400, 300, margin=0.1)
    assert box.width == box.height == 144  # 30 heat pixels of 4 picture pixels, 10 % more on each side
    assert box.centre == (100, 88)
    assert box_around(Box(0, 0, 1, 1), (1.0, 1.0), 400, 300).width == 60  # at least a fifth of the short side


def test_the_box_lands_on_an_object_far_from_the_middle(cache):
    picture = placed(HORSE, (1600, 1200), (0.7, 0.3), 0.25)  # the horse's middle at (1120, 360)
    box = object_box(cache.get(FRAMER), picture)
    assert box.left <= 1120 <= box.right and box.top <= 360 <= box.bottom
    assert box.right <= 1600 and box.bottom <= 1200 and box.width == box.height < 1000
    share = [(np.asarray(p.convert("L")) > 128).mean() for p in (picture, crop(picture, box))]
    assert share[1] > 2.5 * share[0]  # the horse fills more of the crop than of the photo (8 % against 2.7 %)


def test_the_small_picture_models_get_the_crop_and_the_imagenet_model_the_whole_photo(cache):
    picture = placed(HORSE, (1000, 700), (0.5, 0.5), 0.4)
    box = Box(300, 100, 700, 500)
    rows = framed_compare(cache, picture, ["lenet5", FRAMER], box)
    small, big = rows
    assert small.box == box and big.box == Box.whole(1000, 700)
    assert small.seen.shape[:2] == (256, 256)  # 32 x 32 input pixels, 8 x 8 screen pixels each
    assert small.row.top3 == cache.get("lenet5").predict(crop(picture, box), 3)  # the real forward on the crop
    assert wants_framing(model_info("lenet5").weights) and not wants_framing(model_info(FRAMER).weights)


def _right(cache, picture, box, wanted: str) -> int:
    """How many of the six CIFAR-10 models name wanted on picture given box."""
    return sum(r.row.top3[0][0] == wanted for r in framed_compare(cache, picture, SIX, box))


@pytest.mark.parametrize("picture", [
    pytest.param(lambda: example_image(HORSE), id="horse filling the frame"),
    pytest.param(lambda: placed(HORSE, (1200, 800), (0.25, 0.6), 0.33), id="horse small on the left"),
    pytest.param(lambda: placed(HORSE, (1600, 1200), (0.7, 0.3), 0.25), id="horse far in the top right"),
])
def test_compare_names_the_object_for_five_of_the_six_cifar_models_by_default(cache, picture):
    """The done-when of the history lesson, on photos the project can ship (bench/framing.py prints more)."""
    picture = picture()
    box = object_box(cache.get(FRAMER), picture)
    assert _right(cache, picture, box, "horse") >= 5


def test_the_crop_is_what_makes_the_difference_on_a_far_object(cache):
    picture = placed(HORSE, (1600, 1200), (0.7, 0.3), 0.25)
    assert _right(cache, picture, Box.whole(*picture.size), "horse") <= 2  # squeezed whole: a few dots of horse


def test_the_box_is_drawn_on_the_photo_and_said_in_a_sentence():
    picture = Image.new("RGB", (400, 200), (200, 200, 200))
    drawn = boxed(picture, Box(100, 50, 200, 150))
    assert drawn.shape == (200, 400, 3) and tuple(drawn[50, 150]) == (255, 215, 0)  # the yellow edge
    assert drawn[10, 10].max() < 100 and tuple(drawn[100, 150]) == (200, 200, 200)  # outside dimmed, inside not
    assert (boxed(picture, Box.whole(400, 200)) == 200).all()  # no crop: the photo as it is
    assert "100x100 px square" in framing_note(Box(100, 50, 200, 150), (400, 200), FRAMER)
    assert "whole 400x200 photo" in framing_note(Box.whole(400, 200), (400, 200), FRAMER)


def test_the_sentence_on_small_pictures_comes_from_the_weights():
    sentence = small_picture_sentence(model_info("resnet18_cifar").weights)
    assert "only 10 classes (airplane, automobile" in sentence and "32x32" in sentence and sentence.count(".") == 1
