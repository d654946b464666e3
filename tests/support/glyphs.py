"""Characters a figure or caption may use: the ones every classroom browser draws (issue 14: validation
counts rendered as "□" on a projector).

A browser draws a character its fonts lack as an empty box. Allowed: printable ASCII, printable Latin-1
(``×``, ``±``, ``°``, ``·``, ``÷``, the no-break space) and :data:`ALLOWED`, each checked with ``fc-query``
to be in Streamlit's own font (Source Sans 3, ``streamlit/static/static/media/SourceSansVF-*.woff2``),
DejaVu Sans and Liberation Sans (Arial's metrics). Not allowed, for example: the thin and narrow no-break
spaces (U+2009, U+202F: not in Liberation Sans), "⋆" (U+22C6) and "❚" (U+275A, in neither Source Sans 3
nor Liberation Sans), "✓", emoji.
"""

from __future__ import annotations

from typing import Any, Iterable

#: Beyond Latin-1: in Source Sans 3, DejaVu Sans and Liberation Sans alike.
ALLOWED = frozenset("–—…→≤≥≈−’ΣΔε")


def safe(ch: str) -> bool:
    code = ord(ch)
    return 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF or ch in ALLOWED or ch == "\n"


def unsafe_characters(texts: Iterable[str]) -> dict[str, str]:
    """``{character: the first text holding it}`` for every character outside the safe set."""
    found: dict[str, str] = {}
    for text in texts:
        for ch in text:
            if not safe(ch) and ch not in found:
                found[ch] = text
    return found


def figure_texts(value: Any) -> list[str]:
    """Every string in a Plotly figure (as ``fig.to_plotly_json()`` or a decoded dict): titles, annotations,
    tick labels, legend names, text, hover templates, button labels."""
    if hasattr(value, "to_plotly_json"):
        value = value.to_plotly_json()
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in figure_texts(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in figure_texts(v)]
    if hasattr(value, "tolist") and getattr(value, "dtype", None) is not None and value.dtype.kind in "OU":
        return figure_texts(value.tolist())
    return []
