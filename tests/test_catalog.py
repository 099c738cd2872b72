"""The catalog is the one home of data set metadata: registry entries and loaders read it, nothing repeats it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cnndemo import catalog, data
from cnndemo.data import DataSettings, load_dataset
from cnndemo.models import list_models, model_info
from conftest import data_folder

PACKAGE = Path(catalog.__file__).resolve().parent


def test_catalog_imports_nothing_from_cnndemo():
    tree = ast.parse(Path(catalog.__file__).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]
    assert not relative and not [m for m in imported if m.startswith("cnndemo")]


def test_each_data_set_is_consistent():
    for name, d in catalog.DATASETS.items():
        assert d.name == name and len(d.mean) == len(d.std) == d.channels and all(s > 0 for s in d.std)
        assert len(set(d.classes)) == d.num_classes >= 10 and d.label
    assert catalog.IMAGENET.num_classes == 1000 and catalog.IMAGENET.crop_pct == 224 / 256


def test_builtin_names_have_one_home():
    assert data.BUILTIN is catalog.BUILTIN == ("mnist", "fashion_mnist", "cifar10")


@pytest.mark.parametrize("literal", ['"Ankle boot"', '"automobile"',
                                     "str(d) for d in range(10)", "0.1307", "0.4914", "0.485"])
def test_no_copy_of_a_fact_elsewhere_in_the_package(literal):
    holders = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if literal in p.read_text()]
    assert holders == ["catalog.py"]


@pytest.mark.parametrize("name", list_models())
def test_registry_entries_read_the_catalog(name):
    info, known = model_info(name), catalog.dataset(model_info(name).dataset)
    assert info.classes == known.classes and info.channels == known.channels
    if info.name != "efficientnet_lite0":  # TF-Lite weights normalise their own way (declared in its family file)
        assert (info.mean, info.std) == (known.mean, known.std)


def test_unknown_names():
    with pytest.raises(ValueError, match="cifar10"):
        catalog.dataset("cifar100")
    assert catalog.label("flowers.zip") == "flowers.zip" and catalog.label("fashion_mnist") == "Fashion-MNIST"


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_loaded_data_sets_carry_the_catalog_class_names(name):
    root = data_folder(name)
    test = load_dataset(name, root, split="test", settings=DataSettings(test_limit_per_class=1, download=False))
    assert test.classes == catalog.dataset(name).classes
