"""Plain-text and markdown tables, and number formats for them."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """``rows`` under ``headers``: aligned text, or a markdown table."""
    if markdown:
        lines = [headers, ["---"] * len(headers), *rows]
        return "\n".join("| " + " | ".join(map(str, line)) + " |" for line in lines)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    rule = "  ".join("-" * w for w in widths)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(headers), rule, *map(line, rows)])


def heading(title: str, markdown: bool) -> str:
    return f"### {title}" if markdown else f"{title}\n{'=' * len(title)}"


def rate(x: float | None) -> str:
    """A throughput such as ``12,345``."""
    return "n/a" if x is None else f"{x:,.0f}"


def ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def fixed(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def percent(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"
