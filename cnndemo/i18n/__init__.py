"""Every sentence the app shows, in the reader's language: English and Korean (한국어).

The English sentence is its own key (gettext's convention), so code reads as it shows:
``tr("Top {k} classes", k=5)``. Korean templates live in ``cnndemo/i18n/ko/*.json``, one file per part of the
app, each mapping an English template to its Korean one with the same {placeholders}. The language of a request
is a context variable the UI sets once per event (`speaking`), so code deep in the package (an error raised in a
data loader) speaks the reader's language without a language argument threaded through every call.

A pseudo-language, ``PSEUDO``, wraps every translated sentence in ⟦ ⟧: a test runs the app in it and finds any
sentence that bypassed the catalogue (it has no brackets)."""
from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import string
from pathlib import Path
from typing import Iterator

LANGUAGES = ("en", "ko")  # what a reader can choose; English is the default
PSEUDO = "qps"  # the test language: every catalogue sentence comes back as ⟦sentence⟧
NAMES = {"en": "English", "ko": "한국어"}
_FOLDER = Path(__file__).parent
_LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("cnndemo_language", default="en")


class CatalogueError(ValueError):
    """A catalogue file that breaks a rule: a template twice, or a translation whose placeholders differ."""


def placeholders(template: str) -> set[str]:
    """The named {placeholders} of a str.format template."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


@functools.lru_cache(maxsize=None)
def catalogue(language: str) -> dict[str, str]:
    """English template -> template in language, read once from every JSON file of its folder (empty for en)."""
    merged: dict[str, str] = {}
    for path in sorted((_FOLDER / language).glob("*.json")) if language in LANGUAGES[1:] else []:
        for english, translated in json.loads(path.read_text(encoding="utf-8")).items():
            if english in merged:
                raise CatalogueError(f"{path.name}: {english!r} is already translated in another file")
            if placeholders(english) != placeholders(translated):
                raise CatalogueError(f"{path.name}: {english!r} and {translated!r} have different placeholders")
            merged[english] = translated
    return merged


def language() -> str:
    """The language of the request being served (en outside any request)."""
    return _LANGUAGE.get()


@contextlib.contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Within the block, tr() answers in lang (an unknown language falls back to English)."""
    token = _LANGUAGE.set(lang if lang in LANGUAGES or lang == PSEUDO else "en")
    try:
        yield
    finally:
        _LANGUAGE.reset(token)


def tr(template: str, /, **values) -> str:
    """template in the request's language, its {placeholders} filled from values (str.format)."""
    return translate(template, language(), **values)


def translate(template: str, lang: str, /, **values) -> str:
    """template in lang, filled from values: a template the catalogue lacks stays English."""
    text = catalogue(lang).get(template, template)
    text = text.format(**values) if values else text
    return f"⟦{text}⟧" if lang == PSEUDO else text


def tr_name(name: str) -> str:
    """A name from data (a class name, a teaching note): its translation when the catalogue has one, else as is."""
    return tr(name) if name in catalogue(language()) or language() == PSEUDO else name


def choose(accept_language: str | None = None, choice: str | None = None) -> str:
    """The reader's language: an explicit choice (the app's switch) wins, else the first supported language of an
    Accept-Language header (weights honoured), else English."""
    if choice in LANGUAGES or choice == PSEUDO:
        return choice
    ranked = []
    for part in (accept_language or "").split(","):
        tag, _, weight = part.strip().partition(";q=")
        ranked.append((_weight(weight), tag.split("-")[0].lower()))
    return next((tag for _, tag in sorted(ranked, key=lambda r: -r[0]) if tag in LANGUAGES), "en")


def _weight(text: str) -> float:
    """An Accept-Language q value (1 when absent or unreadable)."""
    try:
        return float(text) if text else 1.0
    except ValueError:
        return 1.0
