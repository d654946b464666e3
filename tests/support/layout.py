"""Where a figure's captions land when the figure is drawn ``width_px`` wide, estimated: a phone's page
(:data:`PHONE_PX`) drew side-by-side subplot titles into each other.

Text widths are estimated on the generous side (:data:`CHAR_EM`), so a caption that fits here fits in the browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import plotly.graph_objects as go

#: A figure's width on a phone 390 px wide: Streamlit's page keeps 1rem (16 px) on each side.
PHONE_PX = 358
#: A character's width in font sizes: Streamlit draws Plotly's text in Source Sans, whose captions measured
#: 0.42-0.48 in Chromium (the figures of tests/plots/test_phone_width.py, at 390 px).
CHAR_EM = 0.5

#: Plotly's default annotation font size, and make_subplots' for its subplot titles.
DEFAULT_SIZE = 12
#: What a vertical colour bar takes from the plot's width (its bar, tick labels and the gap before it).
COLOUR_BAR_PX = 70
LINE_HEIGHT = 1.3  # lines of a caption, in font sizes


@dataclass(frozen=True)
class Box:
    text: str
    left: float
    right: float
    bottom: float  # pixels from the plot area's bottom
    top: float

    def meets(self, other: "Box") -> bool:
        return self.left < other.right and other.left < self.right and self.bottom < other.top \
            and other.bottom < self.top


def visible_length(text: str) -> int:
    """Characters on the longest line of a Plotly text, its tags (<b>, <br>) left out."""
    return max(len(re.sub(r"<[^>]*>", "", line)) for line in text.split("<br>"))


def _has_colour_bar(fig: go.Figure) -> bool:
    layout = fig.layout
    if layout.coloraxis.colorscale is not None and layout.coloraxis.showscale is not False:
        return any(getattr(getattr(t, "marker", None), "coloraxis", None) or getattr(t, "coloraxis", None)
                   for t in fig.data)
    return any(t.type in ("heatmap", "contour") and t.showscale is not False and not t.coloraxis for t in fig.data)


def caption_boxes(fig: go.Figure, width_px: float) -> list[Box]:
    """Each annotation of ``fig`` placed in paper coordinates, as a box in pixels, at ``width_px`` wide."""
    margin = fig.layout.margin
    plot_w = width_px - (margin.l or 0) - (margin.r or 0) - (COLOUR_BAR_PX if _has_colour_bar(fig) else 0)
    plot_h = (fig.layout.height or 450) - (margin.t or 0) - (margin.b or 0)
    boxes = []
    for a in fig.layout.annotations:
        if a.xref != "paper" or a.yref != "paper" or not a.text:
            continue
        size = (a.font.size if a.font and a.font.size else None) or DEFAULT_SIZE
        wide = visible_length(a.text) * size * CHAR_EM
        tall = (a.text.count("<br>") + 1) * size * LINE_HEIGHT
        x, y = a.x * plot_w, a.y * plot_h
        left = {"left": x, "right": x - wide}.get(a.xanchor, x - wide / 2)
        bottom = {"bottom": y, "top": y - tall}.get(a.yanchor, y - tall / 2)
        boxes.append(Box(a.text, left, left + wide, bottom, bottom + tall))
    return boxes


def overlapping_captions(fig: go.Figure, width_px: float) -> list[tuple[str, str]]:
    """The pairs of ``fig``'s captions that run into each other when it is drawn ``width_px`` wide."""
    boxes = caption_boxes(fig, width_px)
    return [(a.text, b.text) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.meets(b)]
