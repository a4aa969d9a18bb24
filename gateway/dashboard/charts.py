"""Charts as server-rendered SVG: no script, no library, nothing fetched from outside.

Each function returns markup for one `<svg class="chart">` that scales to its box
(viewBox), with a `<title>` on every point or bar so a tap or hover reads the number.
Points are `circle.pt`, bars `rect.bar` — one per value (per non-zero value for
stacked bars), so tests can count them.
"""

from __future__ import annotations

from typing import Callable, Sequence

from markupsafe import Markup, escape

__all__ = ["line_chart", "bar_chart", "signed_bars"]

W, H = 800, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 16, 34
TICKS = 4

Fmt = Callable[[float], str]


def _scale(lo: float, hi: float) -> tuple[float, float]:
    if hi == lo:
        hi = lo + 1.0
    return lo, hi


def _y(v: float, lo: float, hi: float) -> float:
    return TOP + (H - TOP - BOTTOM) * (1.0 - (v - lo) / (hi - lo))


def _frame(lo: float, hi: float, fmt: Fmt, labels: Sequence[str], xs: Sequence[float],
           label: str) -> list[str]:
    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}"'
           ' xmlns="http://www.w3.org/2000/svg">']
    for i in range(TICKS + 1):
        v = lo + (hi - lo) * i / TICKS
        y = _y(v, lo, hi)
        out.append(f'<line class="grid-line" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" '
                   f'y2="{y:.1f}"/><text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{escape(fmt(v))}</text>')
    if lo < 0 < hi:
        y0 = _y(0.0, lo, hi)
        out.append(f'<line class="zero-line" x1="{LEFT}" x2="{W - RIGHT}" y1="{y0:.1f}" '
                   f'y2="{y0:.1f}"/>')
    n = len(labels)
    shown = sorted({0, n // 2, n - 1}) if n > 2 else range(n)
    for i in shown:
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        out.append(f'<text class="axis" x="{xs[i]:.1f}" y="{H - 10}" text-anchor="{anchor}">'
                   f'{escape(labels[i])}</text>')
    return out


def _xs(n: int, band: bool) -> list[float]:
    span = W - LEFT - RIGHT
    if band:
        return [LEFT + span * (i + 0.5) / n for i in range(n)]
    return [LEFT + span * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]


def line_chart(labels: Sequence[str], series: dict[str, Sequence[float]], fmt: Fmt,
               label: str, zero: bool = True) -> Markup:
    """One polyline per series over the same x labels; `zero` puts 0 on the axis."""
    values = [v for s in series.values() for v in s]
    if not labels or not values:
        return Markup('<p class="muted chart-empty">Nothing to draw yet.</p>')
    lo, hi = _scale(min(values + ([0.0] if zero else [])), max(values + ([0.0] if zero else [])))
    xs = _xs(len(labels), band=False)
    out = _frame(lo, hi, fmt, labels, xs, label)
    for name, vals in series.items():
        pts = " ".join(f"{x:.1f},{_y(v, lo, hi):.1f}" for x, v in zip(xs, vals))
        out.append(f'<polyline class="series series-{escape(name)}" points="{pts}"/>')
        for x, v, lab in zip(xs, vals, labels):
            out.append(f'<circle class="pt pt-{escape(name)}" cx="{x:.1f}" '
                       f'cy="{_y(v, lo, hi):.1f}" r="3"><title>{escape(lab)}: {escape(name)} '
                       f'{escape(fmt(v))}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))


def bar_chart(labels: Sequence[str], stacks: dict[str, Sequence[float]], fmt: Fmt,
              label: str, plan: float | None = None) -> Markup:
    """Stacked bars, one column per label (equal widths: give every bucket of the axis,
    a lone label would fill the chart), series bottom to top in the order given; a zero
    draws no bar; `plan`: a level drawn across as `line.plan-line` (what each column should reach)."""
    if not labels:
        return Markup('<p class="muted chart-empty">Nothing to draw yet.</p>')
    tops = [sum(s[i] for s in stacks.values()) for i in range(len(labels))]
    lo, hi = _scale(0.0, max(tops + ([plan] if plan is not None else [])))
    xs = _xs(len(labels), band=True)
    width = max(2.0, (W - LEFT - RIGHT) / len(labels) * 0.7)
    out = _frame(lo, hi, fmt, labels, xs, label)
    for i, x in enumerate(xs):
        base = 0.0
        for name, vals in stacks.items():
            v = vals[i]
            if not v:  # nothing in this column of this series: no bar to count or hover
                continue
            y1, y0 = _y(base + v, lo, hi), _y(base, lo, hi)
            out.append(f'<rect class="bar bar-{escape(name)}" x="{x - width / 2:.1f}" '
                       f'y="{y1:.1f}" width="{width:.1f}" height="{max(0.0, y0 - y1):.1f}">'
                       f'<title>{escape(labels[i])}: {escape(name)} {escape(fmt(v))}</title>'
                       '</rect>')
            base += v
    if plan is not None:
        y = _y(plan, lo, hi)
        out.append(f'<line class="plan-line" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" '
                   f'y2="{y:.1f}"><title>plan {escape(fmt(plan))}</title></line>')
    out.append("</svg>")
    return Markup("".join(out))


def signed_bars(items: Sequence[tuple[str, float]], fmt: Fmt, label: str,
                bad: Callable[[float], bool] = lambda v: v > 0) -> Markup:
    """One bar per item from zero, in the order given, up for positive and down for
    negative; `bar-bad` where `bad(v)` (by default a positive variance), else `bar-good`."""
    if not items:
        return Markup('<p class="muted chart-empty">Nothing to draw yet.</p>')
    vals = [v for _, v in items]
    lo, hi = _scale(min(vals + [0.0]), max(vals + [0.0]))
    labels = [k for k, _ in items]
    xs = _xs(len(items), band=True)
    width = (W - LEFT - RIGHT) / len(items) * 0.5
    out = _frame(lo, hi, fmt, labels, xs, label)
    # every label under its bar: there are few of them
    out = [o for o in out if 'y="%d"' % (H - 10) not in o]
    y0 = _y(0.0, lo, hi)
    for x, (name, v) in zip(xs, items):
        y = _y(v, lo, hi)
        kind = "bad" if bad(v) else "good"
        out.append(f'<rect class="bar bar-{kind}" x="{x - width / 2:.1f}" y="{min(y, y0):.1f}" '
                   f'width="{width:.1f}" height="{abs(y0 - y):.1f}"><title>{escape(name)}: '
                   f'{escape(fmt(v))}</title></rect><text class="axis" x="{x:.1f}" '
                   f'y="{H - 10}" text-anchor="middle">{escape(name)}</text>')
    out.append("</svg>")
    return Markup("".join(out))
