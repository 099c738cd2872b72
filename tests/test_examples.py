from cnndemo.examples import example_files, example_image, example_names

import pytest


def test_every_example_loads_as_rgb():
    for name in example_names():
        img = example_image(name)
        assert img.mode == "RGB" and min(img.size) >= 100


def test_example_files_are_written(tmp_path):
    paths = example_files(tmp_path)
    assert len(paths) == len(example_names()) and all(p.stat().st_size > 1000 for p in paths)


def test_unknown_example_is_refused():
    with pytest.raises(ValueError, match="chelsea"):
        example_image("nope")
