"""Hangul in every figure: matplotlib and PIL draw with DejaVu Sans (matplotlib's own) and fall back to NanumGothic
for the glyphs it lacks. NanumGothic (SIL Open Font License) comes from the koreanize-matplotlib wheel, a
requirement, so a fresh install and a Space have it; we use only its font files, not its import, which would
change every matplotlib setting of the process."""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

HANGUL_FAMILY = "NanumGothic"
SAMPLE = "합성곱"  # a word every Korean CNN course uses: the glyph test renders it


@functools.lru_cache(maxsize=1)
def hangul_font() -> Path:
    """The NanumGothic file of the koreanize-matplotlib wheel; FileNotFoundError naming the requirement."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "fonts" / "NanumGothic.ttf"
        if path.is_file():
            return path
    raise FileNotFoundError("NanumGothic.ttf not found: install the requirement koreanize-matplotlib")


@functools.lru_cache(maxsize=1)
def use_hangul() -> str:
    """Register NanumGothic with matplotlib and fall back to it after DejaVu Sans; the family used."""
    import matplotlib
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(hangul_font()))
    # a list of families is matplotlib's per-glyph fallback (3.6+); the generic "sans-serif" would use one font
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", HANGUL_FAMILY]
    return HANGUL_FAMILY
