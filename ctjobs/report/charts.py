"""Bar charts drawn as inline SVG from numbers alone: no script, nothing fetched.

The run report embeds them in its HTML, and a notebook shows them with
``IPython.display.SVG(chart)``, so neither needs a plotting library. Every label
passes through `markupsafe`, so a label is always text, never markup.

Example:
    >>> chart = bar_chart([("Charged", 1200), ("Plan Renewed", 310)], title="Events")
    >>> column_chart(["run 1", "run 2"], {"accepted": [90, 95], "rejected": [10, 5]},
    ...              title="Records per run")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup

#: Colours for bars and series, in order; readable on white and for most
#: colour-blind readers (Okabe and Ito's palette).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
_ROW = 22
_TITLE = 28
_CHAR_WIDTH = 7  # pixels per character of a 12px label, roughly
_FONT = "font-family='system-ui, sans-serif' font-size='12'"


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 640,
    label_width: int = 230,
    color: str = PALETTE[0],
    decimals: int = 2,
) -> Markup:
    """Horizontal bars, one per ``(label, value)``, scaled to the largest value.

    Whole values are shown as counts; others with `decimals` places.
    """
    plot = width - label_width - 70
    top = max((value for _, value in bars), default=0) or 1
    height = _TITLE + _ROW * len(bars) + 6
    parts = [_open(width, height, title)]
    for row, (label, value) in enumerate(bars):
        y = _TITLE + row * _ROW
        length = max(round(plot * value / top), 1 if value else 0)
        parts.append(
            _label(label, label_width - 8, y + 15, "end", label_width // _CHAR_WIDTH)
        )
        parts.append(
            _rect(label_width, y + 3, length, _ROW - 6, color, label, value, decimals)
        )
        parts.append(_text(_number(value, decimals), label_width + length + 6, y + 15))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def column_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    width: int = 640,
    height: int = 260,
) -> Markup:
    """Vertical columns per category, the series side by side in their own colours."""
    legend = _TITLE + 4
    base = height - 40
    plot_top = legend + 22
    top = max((v for values in series.values() for v in values), default=0) or 1
    slot = (width - 60) / max(len(categories), 1)
    column = max(slot * 0.8 / max(len(series), 1), 1.0)
    parts = [_open(width, height, title), _legend(series, legend)]
    parts.append(_text(_number(top), 4, plot_top + 4))
    parts.append(_line(50, base, width - 8, base))
    for index, category in enumerate(categories):
        left = 55 + index * slot + slot * 0.1
        for number, (name, values) in enumerate(series.items()):
            value = values[index]
            tall = round((base - plot_top) * value / top)
            x = left + number * column
            color = PALETTE[number % len(PALETTE)]
            tip = f"{category}, {name}"
            parts.append(_rect(x, base - tall, column - 1, tall, color, tip, value))
        fits = max(int(slot / _CHAR_WIDTH), 3)
        parts.append(_label(category, left + slot * 0.4, base + 16, "middle", fits))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


# ------------------------------------------------------------------ pieces


def _open(width: int, height: int, title: str) -> Markup:
    return Markup(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' "
        "viewBox='0 0 {w} {h}' role='img' aria-label='{t}'>"
        "<text x='4' y='18' {font} font-weight='600'>{t}</text>"
    ).format(w=width, h=height, t=title, font=Markup(_FONT))


def _legend(series: Mapping[str, Sequence[float]], y: int) -> Markup:
    parts = []
    x = 4
    for number, name in enumerate(series):
        color = PALETTE[number % len(PALETTE)]
        parts.append(
            Markup("<rect x='{x}' y='{y}' width='12' height='12' fill='{c}'/>").format(
                x=x, y=y, c=color
            )
        )
        parts.append(_text(name, x + 16, y + 11))
        x += 30 + _CHAR_WIDTH * len(name)
    return Markup("").join(parts)


def _rect(
    x: float,
    y: float,
    width: float,
    height: float,
    color: str,
    tip: str,
    value: float,
    decimals: int = 2,
) -> Markup:
    # The <title> child is the tooltip a browser shows on hover.
    return Markup(
        "<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' fill='{c}'>"
        "<title>{tip}: {v}</title></rect>"
    ).format(
        x=x,
        y=y,
        w=max(width, 0),
        h=max(height, 0),
        c=color,
        tip=tip,
        v=_number(value, decimals),
    )


def _label(label: str, x: float, y: float, anchor: str, limit: int) -> Markup:
    """A label cut to `limit` characters; the whole text stays in a tooltip."""
    short = label if len(label) <= limit else label[: limit - 1] + "…"
    return Markup(
        "<text x='{x:.1f}' y='{y:.1f}' text-anchor='{a}' {font}>"
        "<title>{full}</title>{short}</text>"
    ).format(x=x, y=y, a=anchor, font=Markup(_FONT), full=label, short=short)


def _text(text: str, x: float, y: float) -> Markup:
    return Markup("<text x='{x:.1f}' y='{y:.1f}' {font}>{t}</text>").format(
        x=x, y=y, t=text, font=Markup(_FONT)
    )


def _line(x1: float, y1: float, x2: float, y2: float) -> Markup:
    return Markup(
        "<line x1='{a}' y1='{b}' x2='{c}' y2='{d}' stroke='#888' stroke-width='1'/>"
    ).format(a=x1, b=y1, c=x2, d=y2)


def _number(value: float, decimals: int = 2) -> str:
    """Whole numbers with thousands separators, others to `decimals` places."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.{decimals}f}"
