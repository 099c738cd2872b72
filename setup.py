"""The wheel's file layout (the rest of the metadata is in pyproject.toml).

The trained checkpoints have one home, the repository's top-level checkpoints/ (app.py, a Space and a checkout read
them there). The wheel carries that same folder as the data-only package cnndemo/_checkpoints, so an installed
cnndemo finds them beside its own code (cnndemo.models.weights.SHIPPED_DIR) wherever pip put it: no copy in the
repository, no files written into site-packages' top level or into sys.prefix/share, no download at run time.
pyproject.toml's [tool.setuptools] tables cannot add a package that has no folder under cnndemo/, hence this file.
"""
from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["cnndemo", "cnndemo.*"]), "cnndemo._checkpoints"],
      package_dir={"cnndemo._checkpoints": "checkpoints"},
      package_data={"cnndemo._checkpoints": ["*.safetensors", "*.json"], "cnndemo.i18n": ["ko/*.json"]})
