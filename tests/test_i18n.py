"""The catalogue (every template in both languages, with the same placeholders), the language of a request, and
the wrapper that makes every handler speak it."""
from __future__ import annotations

import json

import pytest

from cnndemo import i18n
from cnndemo.i18n import PSEUDO, CatalogueError, catalogue, choose, placeholders, speaking, tr, translate
from cnndemo.i18n.check import computed_templates, missing, templates_in_code, untranslated


def test_every_template_in_the_code_has_its_korean():
    gaps = missing("ko")
    assert not gaps, f"{len(gaps)} templates without Korean, e.g. {list(gaps.items())[:5]}"


def test_every_template_is_a_literal_the_check_can_read():
    assert computed_templates() == []


def test_korean_templates_keep_the_english_placeholders_and_are_korean():
    for english, korean in catalogue("ko").items():
        assert placeholders(english) == placeholders(korean), english
        assert korean.strip(), english


def test_no_korean_template_is_left_over_from_code_that_is_gone():
    used = set(templates_in_code())
    from cnndemo.i18n.names import DATA_TEXTS  # names and notes from data (classes, teaching notes) are used too
    stale = set(catalogue("ko")) - used - set(DATA_TEXTS())
    assert not stale, f"{len(stale)} Korean templates nothing uses, e.g. {sorted(stale)[:5]}"


def test_a_duplicate_or_a_placeholder_mismatch_is_refused(tmp_path, monkeypatch):
    (tmp_path / "ko").mkdir()
    (tmp_path / "ko" / "a.json").write_text(json.dumps({"{n} maps": "맵 {m}개"}), encoding="utf-8")
    monkeypatch.setattr(i18n, "_FOLDER", tmp_path)
    catalogue.cache_clear()
    try:
        with pytest.raises(CatalogueError, match="placeholders"):
            catalogue("ko")
        (tmp_path / "ko" / "a.json").write_text(json.dumps({"x": "엑스"}), encoding="utf-8")
        (tmp_path / "ko" / "b.json").write_text(json.dumps({"x": "엑스"}), encoding="utf-8")
        with pytest.raises(CatalogueError, match="already"):
            catalogue("ko")
    finally:
        catalogue.cache_clear()


def test_tr_answers_in_the_language_of_the_block_and_fills_placeholders():
    english = next(iter(catalogue("ko")))
    assert tr(english) == english
    with speaking("ko"):
        assert tr(english) == catalogue("ko")[english]
        with speaking("en"):
            assert tr(english) == english
    with speaking(PSEUDO):
        assert tr("Not in the catalogue {n}", n=3) == "⟦Not in the catalogue 3⟧"
    assert translate("Not in the catalogue", "ko") == "Not in the catalogue"  # a missing Korean stays English


@pytest.mark.parametrize("header, cookie, expected", [
    (None, None, "en"), ("ko-KR,ko;q=0.9,en;q=0.8", None, "ko"), ("en-US,en;q=0.9,ko;q=0.8", None, "en"),
    ("fr-FR,ko;q=0.5", None, "ko"), ("ko;q=0.2,en;q=0.9", None, "en"), ("ko-KR", "en", "en"),
    (None, "ko", "ko"), ("xx;q=bad", "zz", "en")])
def test_the_language_of_a_request(header, cookie, expected):
    assert choose(header, cookie) == expected


def test_untranslated_finds_words_outside_the_brackets():
    assert untranslated("⟦A ⟦nested⟧ sentence⟧ resnet18_cifar 93.1 %") == ["resnet18_cifar"]
    assert untranslated("⟦Top classes⟧: the dog", allowed={"resnet18_cifar"}) == ["the", "dog"]
