"""Gradio components of our own, shared by the tabs."""
from __future__ import annotations

import base64

import gradio as gr


class SafeImage(gr.Image):
    """An image input that passes the upload to cnndemo.images untouched: Gradio never decodes user files."""

    is_template = True  # reuse gr.Image's front end rather than look for a custom one

    def preprocess(self, payload):
        """The uploaded file's path (or the bytes of a pasted data: URL), not yet decoded."""
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            return base64.b64decode(payload.url.split(",", 1)[1])
        return payload.path
