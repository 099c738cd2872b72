"""The feature space: feature neighbours share the query's class far more often than pixel neighbours do, a
student's picture goes through the same path as the data set's, and bad requests get a sentence."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cnndemo.data import DataSettings, load_dataset, per_class_subset, shapes
from cnndemo.errors import BadInputError
from cnndemo.explain.guard import hooks_left
from cnndemo.insight.featurespace import (SpaceSettings, feature_space, feature_space_figure, neighbour_agreement,
                                          place)
from cnndemo.insight.kept import Kept
from cnndemo.zoo import Zoo

from conftest import data_folder

FAST = SpaceSettings(max_iter=250)  # the least t-SNE iterations scikit-learn takes: the rates do not use the map


@pytest.fixture(scope="module")
def resnet():
    """resnet18_cifar with its shipped CIFAR-10 weights."""
    model, info = Zoo().load("resnet18_cifar")
    return model, info


def cifar_test(per_class: int):
    """The first per_class CIFAR-10 test pictures of each class from the data folder, or a skip naming it."""
    root = str(data_folder("cifar10"))
    settings = DataSettings(root=root, test_limit_per_class=per_class)
    return load_dataset("cifar10", root, split="test", settings=settings)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["cifar10", "shapes"])
def test_feature_neighbours_share_the_class_far_more_often_than_pixel_neighbours(resnet, dataset):
    model, info = resnet
    data = cifar_test(50) if dataset == "cifar10" else per_class_subset(shapes.load("test"), 100)
    space = feature_space(model, info, data, FAST, kept=Kept(1))
    by_features, by_pixels = neighbour_agreement(space, k=8)
    print(f"\n{dataset}, {len(data)} test pictures, resnet18_cifar: {by_features:.1%} of the 8 nearest in feature "
          f"space share the picture's class, {by_pixels:.1%} of the 8 nearest in pixel space")
    assert by_features >= 2 * by_pixels and by_features - by_pixels >= 0.25
    assert space.xy.shape == (len(data), 2) and np.isfinite(space.xy).all()
    assert hooks_left(model) == 0


@pytest.mark.slow
def test_a_picture_of_the_data_set_finds_itself_first(resnet, tmp_path):
    """The student's path (file -> safe loader -> Explore's resize) meets the data set's path: a data-set picture
    uploaded as a PNG is its own nearest neighbour in both spaces, at a distance near 0."""
    model, info = resnet
    data = per_class_subset(shapes.load("test"), 10)
    kept = Kept(1)
    space = feature_space(model, info, data, FAST, kept=kept)
    path = tmp_path / "seven.png"
    Image.fromarray(data.images[7].permute(1, 2, 0).numpy()).save(path)
    placed = place(space, model, info, str(path))
    for found in (placed.by_features, placed.by_pixels):  # ~0: bf16 features of a batch of 1 and of 50 may differ
        assert found[0].number == 7 and found[0].distance < 0.05 * found[1].distance and len(found) == FAST.k
    nearest_xy = space.xy[[n.number for n in placed.by_features]].mean(0)
    assert np.allclose(placed.xy, nearest_xy)  # placed at the mean of its feature neighbours
    assert feature_space(model, info, data, FAST, kept=kept) is space and kept.builds == 1
    for figure in (feature_space_figure(space, placed), feature_space_figure(space)):
        assert figure.get_size_inches().tolist() == [12.8, 7.2]


def test_too_small_a_data_set_gets_a_sentence(resnet):
    model, info = resnet
    with pytest.raises(BadInputError, match="needs at least 20"):
        feature_space(model, info, shapes.load("test").subset(torch.arange(10)), FAST, kept=Kept(1))
    with pytest.raises(BadInputError, match="unknown data set"):
        feature_space(model, info, "imagenet", FAST, kept=Kept(1))
