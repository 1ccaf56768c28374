"""Colours that mean something: one per engine (charts, legends, column titles)."""

from __future__ import annotations

# Red and blue stay apart for the common colour-vision deficiencies; where both curves cover
# the same dots (parity holding), the cell is drawn in violet, the colour of both.
ENGINE_COLORS = {"pytorch": "#ee4c2c", "tensorflow": "#42a5f5"}
FALLBACK_COLORS = ("#66bb6a", "#ffca28", "#ab47bc")
BOTH_COLOR = "#c792ea"


def engine_color(name: str, index: int = 0) -> str:
    """The colour of an engine's curves and title."""
    return ENGINE_COLORS.get(name, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])
