"""cnndemo's Gradio app: the entry point (Spaces' app_file). The app itself is cnndemo.ui.app (`cnndemo serve`)."""
from __future__ import annotations

# app.build_demo, app.launch_options, app.TABS and app.DEFAULT_MODEL stay importable from here (tests, README)
from cnndemo.ui.app import DEFAULT_MODEL, INTRO, MAX_FILE_SIZE, TABS, build_demo, launch_options, serve  # noqa: F401

if __name__ == "__main__":
    serve()
