"""Every handler speaks its request's language: the wrapper bind() adds reads the request Gradio hands it (cookie,
then Accept-Language), and a generator speaks it at every step; the page's front end gets the static text."""
from __future__ import annotations

import inspect

import gradio as gr

from cnndemo.i18n import PSEUDO, language, tr
from cnndemo.ui import language as ui_language
from cnndemo.ui.language import LANGUAGE_COOKIE, front_end, key_of, language_of, speaks


def said(ctx, text: str) -> str:
    """A handler: the language it ran in, and a sentence."""
    return f"{language()} {tr(text)}"


def steps(ctx, n: int):
    """A streaming handler: the language at each step."""
    for _ in range(n):
        yield language()


def request(**headers) -> gr.Request:
    """A request as Gradio hands one to a handler."""
    return gr.Request(headers=headers)


def test_a_handler_speaks_the_language_of_its_request():
    handler = speaks(said.__get__(object()))
    assert handler("x") == "en x"  # called directly (tests, scripts): English
    assert handler("x", request(**{"accept-language": "ko-KR,ko;q=0.9"})) == "ko x"
    assert handler("x", request(**{"accept-language": "ko-KR", "cookie": f"{LANGUAGE_COOKIE}=en"})) == "en x"
    assert handler("x", request(cookie=f"a=b; {LANGUAGE_COOKIE}={PSEUDO}")) == f"{PSEUDO} ⟦x⟧"
    assert language() == "en"  # the request's language does not leak out of it


def test_a_streaming_handler_speaks_it_at_every_step_and_stays_a_generator():
    handler = speaks(steps.__get__(object()))
    assert inspect.isgeneratorfunction(handler)
    stream = handler(3, request(**{"accept-language": "ko"}))
    assert next(stream) == "ko" and language() == "en"  # between steps the worker thread is back to English
    assert list(stream) == ["ko", "ko"]


def test_gradio_sees_the_request_parameter_and_the_handler_s_own():
    handler = speaks(said.__get__(object()))
    params = list(inspect.signature(handler).parameters)
    assert params == ["text", "language_request"]
    assert gr.utils.get_type_hints(handler)["language_request"] is gr.Request


def test_a_bad_cookie_header_falls_back_to_accept_language():
    assert language_of(request(cookie='"; \\', **{"accept-language": "ko"})) == "ko"
    assert language_of(None) == "en"


def test_the_front_end_gets_every_static_text_in_both_languages():
    key = ui_language.T("Upload a photo")
    tables = front_end().translations_dict
    assert key.key == key_of("Upload a photo")
    formatted = ui_language.T("{n} models", n=40)
    assert tables["en"] and set(tables["en"]) == set(tables["ko"])
    assert front_end().translations_dict["en"][formatted.key] == "40 models"
