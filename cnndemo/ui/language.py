"""The app in the reader's language: static text through Gradio's I18n (the browser translates it), every sentence
a handler returns through cnndemo.i18n in the language of its request, and the switch between them.

How a request's language is found: the page's head script (HEAD) settles the reader's language once per page
(the app's switch, kept in localStorage, else the browser's) and makes the browser and the server agree on it:
Gradio's front end reads navigator.language, which the script overrides, and every request carries the cookie
LANGUAGE_COOKIE. A gradio_client caller has neither, so it gets English unless it sends an Accept-Language header
(Client(url, headers={"Accept-Language": "ko"}))."""
from __future__ import annotations

import functools
import hashlib
import inspect
from http.cookies import CookieError, SimpleCookie
from typing import Callable

import gradio as gr

from cnndemo.i18n import LANGUAGES, NAMES, catalogue, choose, speaking, translate

LANGUAGE_COOKIE = "cnndemo_language"
_REQUEST = "language_request"  # the parameter bind() adds so that Gradio hands every handler its request
_FORMATTED: dict[str, dict[str, str]] = {}  # key -> language -> text, for T() calls with values

# Runs before Gradio's scripts (head scripts come before its modules): the app's switch (?lang= or localStorage)
# wins over the browser's language; Gradio's front end and the server's cookie then read the same answer.
HEAD = """<script>
(() => {
  const supported = %s;
  const asked = new URLSearchParams(location.search).get("lang") || localStorage.getItem("%s");
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  const lang = supported.includes(asked) ? asked : (supported.includes(browser.split("-")[0]) ? browser.split("-")[0] : "en");
  Object.defineProperty(navigator, "language", {get: () => lang});
  Object.defineProperty(navigator, "languages", {get: () => [lang]});
  // in a Space the app is a cross-site iframe: only a partitioned, secure cookie reaches the server there
  const scope = location.protocol === "https:" ? "; SameSite=None; Secure; Partitioned" : "; SameSite=Lax";
  document.cookie = "%s=" + lang + "; path=/" + scope;
  document.documentElement.lang = lang;
})();
</script>""" % (list(LANGUAGES), LANGUAGE_COOKIE, LANGUAGE_COOKIE)

# The switch: remember the choice, drop a ?lang= that would override it, and reload in the new language.
SWITCH_JS = """(choice) => {
  localStorage.setItem("%s", choice);
  const url = new URL(location.href); url.searchParams.delete("lang");
  location.replace(url.toString());
  return choice;
}""" % LANGUAGE_COOKIE


def key_of(text: str) -> str:
    """The front end's key for a text: a hash, since Gradio's i18n reads dots in a key as nesting."""
    return "cnndemo-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def T(template: str, /, **values) -> gr.I18n:  # noqa: N802 - reads like the tr() of handlers
    """Static text of a component (label, info, Markdown ...), translated by the browser in its language."""
    if not values:
        return _I18N(key_of(template))
    key = key_of(template + repr(sorted(values.items())))
    _FORMATTED[key] = {lang: translate(template, lang, **values) for lang in LANGUAGES}
    return _I18N(key)


def front_end() -> gr.I18n:
    """Every catalogue template and every formatted T() text, by key, for launch(i18n=...)."""
    tables = {lang: {key_of(english): (catalogue(lang).get(english, english)) for english in catalogue("ko")}
              for lang in LANGUAGES}
    for key, texts in _FORMATTED.items():
        for lang in LANGUAGES:
            tables[lang][key] = texts[lang]
    return gr.I18n(**tables)


_I18N = gr.I18n()  # only makes keys; front_end() carries the texts to the browser


def language_of(request: gr.Request | None) -> str:
    """The language a request asks for: the page's cookie, else Accept-Language, else English."""
    headers = getattr(request, "headers", None) or {}
    return choose(headers.get("accept-language"), _cookie(headers.get("cookie", "")))


def _cookie(header: str) -> str | None:
    """The language cookie's value in a Cookie header, if any."""
    try:
        morsel = SimpleCookie(header).get(LANGUAGE_COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel else None


def speaks(fn: Callable) -> Callable:
    """fn as an event's function that runs in its request's language: a gr.Request parameter is appended (Gradio
    fills it by its type hint), read, and dropped before fn is called; generators speak it at every step."""
    wrapper = _speaking_generator(fn) if inspect.isgeneratorfunction(fn) else _speaking_function(fn)
    params = list(inspect.signature(fn).parameters.values())
    extra = inspect.Parameter(_REQUEST, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)
    wrapper.__signature__ = inspect.Signature([*params, extra])
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), _REQUEST: gr.Request}
    return wrapper


def _split(args: tuple) -> tuple[tuple, str]:
    """The handler's arguments and the language of the request Gradio appended (English when called directly)."""
    if args and isinstance(args[-1], gr.Request):
        return args[:-1], language_of(args[-1])
    return args, "en"


def _speaking_function(fn: Callable) -> Callable:
    """fn run in its request's language."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        args, lang = _split(args)
        kwargs.pop(_REQUEST, None)
        with speaking(lang):
            return fn(*args, **kwargs)
    return wrapped


def _speaking_generator(fn: Callable) -> Callable:
    """The generator fn, each step run in its request's language (a step may run on another worker thread)."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        args, lang = _split(args)
        kwargs.pop(_REQUEST, None)
        with speaking(lang):
            steps = fn(*args, **kwargs)
        while True:
            with speaking(lang):
                try:
                    item = next(steps)
                except StopIteration:
                    return
            yield item
    return wrapped


def language_switch(demo: gr.Blocks) -> gr.Radio:
    """The switch at the top of the app, showing the page's language: choosing reloads the page in the other one
    (Gradio's front end reads its language once, when the page loads)."""
    radio = gr.Radio([(NAMES[lang], lang) for lang in LANGUAGES], value=None, label="Language / 언어",
                     show_label=False, container=False, elem_id="language-switch", min_width=160)
    radio.input(None, radio, radio, js=SWITCH_JS)  # input, not change: the load below must not reload the page
    demo.load(None, None, radio, js="() => navigator.language")
    return radio
