"""Figures on pages: a server-rendered SVG bar chart, and money and dates as people read
them (integer pence as pounds, days as "1 December 2026", times in Europe/London).

The chart is plain SVG with presentation attributes only (``fill``, ``x``, ``width``...):
the pages' Content-Security-Policy refuses inline styles and scripts. It is an image with
a title and a description (``role="img"``, ``aria-labelledby``, ``aria-describedby``);
a page shows the same figures in a table too, so the chart is never the only way to read
them.
"""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

#: NHS blue bars and the design system's text colour, on white (contrast above 7:1).
BAR_FILL = "#005eb8"
TEXT_FILL = "#212b32"
GRID_FILL = "#d8dde0"
ROW_HEIGHT = 32
BAR_HEIGHT = 20
LABEL_WIDTH = 280
BAR_AREA = 360
VALUE_WIDTH = 60
FONT_SIZE = 14


def _scale_max(largest: int) -> int:
    """A round axis maximum at or above ``largest`` (1, 2, 5 x 10^n)."""
    if largest <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= largest:
                return step * factor
        step *= 10


def bar_chart(bars: Sequence[tuple[str, int]], *, chart_id: str, title: str,
              description: str) -> Markup:
    """A horizontal bar chart of ``bars`` (label, value) as inline SVG.

    ``chart_id`` prefixes the ids of its ``<title>`` and ``<desc>``, which name and
    describe it (``aria-labelledby``, ``aria-describedby``).
    """
    ident = escape(chart_id)
    top = _scale_max(max((value for _, value in bars), default=0))
    width = LABEL_WIDTH + BAR_AREA + VALUE_WIDTH
    height = max(1, len(bars)) * ROW_HEIGHT + ROW_HEIGHT
    parts = [
        f'<svg class="marketplace-chart" id="{ident}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" height="{height}" role="img" '
        f'aria-labelledby="{ident}-title" aria-describedby="{ident}-desc" '
        f'preserveAspectRatio="xMinYMin meet" focusable="false">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for tick in (0, top // 2 if top > 1 else None, top):
        if tick is None:
            continue
        x = LABEL_WIDTH + BAR_AREA * tick / top
        parts.append(f'<rect x="{x:.1f}" y="0" width="1" '
                     f'height="{height - ROW_HEIGHT + 4}" fill="{GRID_FILL}"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" fill="{TEXT_FILL}" '
                     f'font-size="{FONT_SIZE}" text-anchor="middle">{tick:,}</text>')
    for row, (label, value) in enumerate(bars):
        y = row * ROW_HEIGHT
        bar = BAR_AREA * max(0, value) / top
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + ROW_HEIGHT / 2 + 5:.0f}" '
                     f'fill="{TEXT_FILL}" font-size="{FONT_SIZE}" '
                     f'text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + (ROW_HEIGHT - BAR_HEIGHT) / 2:.0f}" '
                     f'width="{bar:.1f}" height="{BAR_HEIGHT}" fill="{BAR_FILL}"/>')
        parts.append(f'<text x="{LABEL_WIDTH + bar + 6:.1f}" '
                     f'y="{y + ROW_HEIGHT / 2 + 5:.0f}" fill="{TEXT_FILL}" '
                     f'font-size="{FONT_SIZE}">{value:,}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
