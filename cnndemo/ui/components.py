"""Gradio components of our own, shared by the tabs: the safe image and sketch inputs and the model pickers."""
from __future__ import annotations

import base64

import gradio as gr
import numpy as np

from cnndemo.images import open_image
from cnndemo.zoo import Zoo


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


class SafeSketchpad(gr.Sketchpad):
    """A sketchpad that passes the drawing (its composite PNG: a path or bytes) on undecoded, so that it too
    enters through cnndemo.images' safe loader rather than Gradio's own PIL decode."""

    is_template = True  # reuse gr.Sketchpad's front end, which is gr.ImageEditor's

    def get_block_name(self) -> str:
        """The front end to use: the image editor's (a sketchpad has none of its own)."""
        return "imageeditor"

    def preprocess(self, payload):
        """{"composite": the drawing's file path or bytes}, or None when nothing came."""
        if payload is None:
            return None
        if payload.id is not None:  # the front end sent the drawing as a blob in an earlier request
            cached = self.blob_storage.get(payload.id)
            return {"composite": cached.composite if cached else None}
        composite = payload.composite
        return {"composite": composite.path if composite is not None else None}


def drawing_pixels(sketch) -> np.ndarray | None:
    """A sketchpad's drawing, opened by the safe loader, as RGB pixels; None when nothing is drawn (one colour
    everywhere: a transparent canvas comes out white)."""
    composite = sketch.get("composite") if isinstance(sketch, dict) else None
    if composite is None:
        return None
    pixels = np.asarray(open_image(composite).convert("RGB"))
    return None if (pixels == pixels[0, 0]).all() else pixels


def model_choices(zoo: Zoo, session: str | None = None) -> list[tuple[str, str]]:
    """(label, name) pairs for session's model picker (its own runs, never another session's), in the zoo's
    readiness order (ready, downloads, untrained)."""
    return zoo.choices(session)


class FollowModel:
    """The event of a picker that follows Explore's: its value, with this session's choices (a run the session
    trained joins them). A callable object rather than a partial: gradio finds gr.Request by the type hints of a
    function or of a __call__ method, not of a partial."""

    def __init__(self, zoo: Zoo) -> None:
        self.zoo = zoo

    def __call__(self, name: str, request: gr.Request = None) -> dict:
        """The picker's update for this session."""
        return gr.update(choices=model_choices(self.zoo, getattr(request, "session_hash", None)), value=name)


def model_picker(zoo: Zoo, value: str, label: str = "Model", **kwargs) -> gr.Dropdown:
    """A dropdown of every model, grouped by readiness, each label saying how ready it is."""
    return gr.Dropdown(model_choices(zoo), value=value, label=label, **kwargs)
