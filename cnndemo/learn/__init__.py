"""Learn: how a CNN computes, step by step, on the student's own image, for every architecture (UI-free).

Every number comes from the real module and one traced forward pass (cnndemo.learn.trace): the diagram, a
convolution worked out, each architecture's block, the shape trace with receptive fields, filters and softmax,
the playground and the story from LeNet to EfficientNet."""
from __future__ import annotations

from .blocks import Branch, BlockView, block_view, reduction_saving
from .convstep import ChannelTerm, ConvStep, FollowStep, conv_layers, conv_step
from .diagram import Block, block_rows, block_tree, diagram_svg, find, visible, walk
from .filters import FiltersView, first_filters
from .ideas import HeadView, head_text, head_view, stacked_3x3
from .playground import Playground, playground, playground_outcome
from .shapetrace import LayerRow, field_text, row_formula, shape_trace
from .softmax import SoftmaxRow, SoftmaxView, softmax_text, softmax_view
from .story import FAMILIES, StoryRow, story, story_models, story_table
from .trace import Call, Field, Step, Trace, Tracer, merge, shape_model, trace

__all__ = ["Block", "BlockView", "Branch", "Call", "ChannelTerm", "ConvStep", "FAMILIES", "Field", "FiltersView",
           "FollowStep", "HeadView", "LayerRow", "Playground", "SoftmaxRow", "SoftmaxView", "Step", "StoryRow",
           "Trace", "Tracer", "block_rows", "block_tree", "block_view", "conv_layers", "conv_step", "diagram_svg",
           "field_text", "find", "first_filters", "head_text", "head_view", "merge", "playground", "playground_outcome",
           "reduction_saving", "row_formula", "shape_trace", "softmax_text", "softmax_view", "stacked_3x3", "story",
           "shape_model", "story_models", "story_table", "trace", "visible", "walk"]
