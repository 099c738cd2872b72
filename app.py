"""cnndemo's Gradio app: the entry point (Spaces' app_file). It only composes the tabs of cnndemo.ui."""
from __future__ import annotations

import os

import gradio as gr

from cnndemo import logs
from cnndemo.explain import ModelCache
from cnndemo.serving import ServingLimits
from cnndemo.ui import architecture, compare, explore, insight, learn, train, trust
from cnndemo.ui.context import AppContext
from cnndemo.ui.common import DEFAULT_MODEL  # noqa: F401  (the model the app opens on; tests read it here)
from cnndemo.zoo import Zoo

MAX_FILE_SIZE = "20mb"
TABS = (explore, trust, compare, learn, insight, train, architecture)  # the tabs in the order they show
INTRO = ("# cnndemo - look inside a CNN\nUpload a photo (or pick an example, or draw a digit), "
         "choose an architecture, and see what it predicts, what each layer sees and where it looked.")


def launch_options() -> dict:
    """launch() arguments every entry point uses: the upload cap, and no served folders beyond Gradio's cache."""
    return {"max_file_size": MAX_FILE_SIZE, "allowed_paths": [], "show_error": True}


def build_demo(zoo: Zoo | None = None, cache: ModelCache | None = None,
               limits: ServingLimits | None = None) -> gr.Blocks:
    """Every tab in one Blocks, sharing one context (zoo, model cache, limits); nothing runs until a user asks."""
    ctx = AppContext(zoo=zoo or Zoo(), cache=cache, limits=limits or ServingLimits.from_env())
    with gr.Blocks(title="cnndemo - a CNN explorer") as demo:
        gr.Markdown(INTRO)
        for tab in TABS:
            tab.build(ctx)
        demo.queue(max_size=ctx.limits.queue_size, default_concurrency_limit=ctx.limits.explain_concurrency)
    return demo


if __name__ == "__main__":
    logs.configure()
    build_demo().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), **launch_options())
