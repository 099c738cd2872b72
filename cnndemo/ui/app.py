"""The whole web app: every tab in one Blocks, the launch options and `serve` (app.py and `cnndemo serve` run it)."""
from __future__ import annotations

import os

import gradio as gr

from cnndemo import logs, outputs
from cnndemo.explain import ModelCache
from cnndemo.serving import ServingLimits
from cnndemo.zoo import Zoo

from . import architecture, compare, explore, insight, language, learn, train, trust
from .context import AppContext
from .common import DEFAULT_MODEL  # noqa: F401  (the model the app opens on; tests read it here)

MAX_FILE_SIZE = "20mb"
TABS = (explore, trust, compare, learn, insight, train, architecture)  # the tabs in the order they show
INTRO = ("# cnndemo - look inside a CNN\nUpload a photo (or pick an example, or draw a digit), "
         "choose an architecture, and see what it predicts, what each layer sees and where it looked.")


def launch_options() -> dict:
    """launch() arguments every entry point uses: the upload cap, no served folders beyond Gradio's cache, the
    static text in every language and the head script that settles the page's language."""
    return {"max_file_size": MAX_FILE_SIZE, "allowed_paths": [], "show_error": True,
            "i18n": language.front_end(), "head": language.HEAD}


def build_demo(zoo: Zoo | None = None, cache: ModelCache | None = None,
               limits: ServingLimits | None = None) -> gr.Blocks:
    """Every tab in one Blocks, sharing one context (zoo, model cache, limits); nothing runs until a user asks.
    Gradio prunes its cache of this app's files by age (delete_cache), and the app's output folder stays bounded."""
    ctx = AppContext(zoo=zoo or Zoo(), cache=cache, limits=limits or ServingLimits.from_env())
    outputs.set_bounds(ctx.limits.outputs_max_age_s, ctx.limits.outputs_max_mb)
    with gr.Blocks(title="cnndemo - a CNN explorer", delete_cache=ctx.limits.delete_cache()) as demo:
        with gr.Row():
            gr.Markdown(language.T(INTRO))
            language.language_switch(demo)
        for tab in TABS:
            tab.build(ctx)
        demo.queue(max_size=ctx.limits.queue_size, default_concurrency_limit=ctx.limits.explain_concurrency)
    return demo


def serve(host: str | None = None, port: int | None = None) -> None:
    """Start the app and block: host defaults to GRADIO_SERVER_NAME or 127.0.0.1, port to Gradio's (7860 or
    GRADIO_SERVER_PORT)."""
    logs.configure()
    build_demo().launch(server_name=host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), server_port=port,
                        **launch_options())
