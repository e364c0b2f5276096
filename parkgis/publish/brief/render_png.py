"""The brief as a PNG: the same figure as the PDF, rasterised by Agg at print resolution."""

from __future__ import annotations

from parkgis.publish.brief.facts import BriefFacts
from parkgis.publish.brief.render_pdf import RENDER_LOCK, draw_brief, figure_png

DPI = 300


def render_png(f: BriefFacts, lang: str = "both", dpi: int = DPI) -> bytes:
    """The brief of ``f`` as PNG bytes (A4 at ``dpi``: 2480 × 3508 px at 300 dpi)."""
    with RENDER_LOCK:
        fig, _ = draw_brief(f, lang)
        return figure_png(fig, dpi)
