"""The club's anonymous numbers: outcomes per ISO week by level, and "was this helpful?".

The counters name no runner (club, week, level or helpfulness, and a count), so `forget` has
nothing to delete there. Any count under 5 is shown as `<5`, so a small club's table cannot be
read back to one runner. `kneebot stats`, Discord's `/knee stats` and the Slack App Home all show
`club_table`.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.content import Content
from bot.contract import LEVELS
from bot.stores import Store

__all__ = ["SMALL", "club_table", "shown", "table"]

SMALL = 5
"""Counts under this are shown as `<5`."""

_HELPFUL = ("helpful", "unhelpful")


def shown(count: int) -> str:
    return f"<{SMALL}" if count < SMALL else str(count)


def table(content: Content, rows: Iterable[tuple[str, str, str, int]], club: str | None = None) -> str:
    """Every club's weeks (or one club's), newest week first, as aligned plain text."""
    after = content.after
    assert after is not None
    by_club: dict[str, dict[str, dict[str, int]]] = {}
    for found_club, week, name, count in rows:
        if club is None or found_club == club:
            by_club.setdefault(found_club, {}).setdefault(week, {})[name] = count
    if not by_club:
        return after.stats.empty
    names = (*LEVELS, *_HELPFUL)
    header = [after.stats.week, *(after.stats.levels.get(level, level) for level in LEVELS)]
    header += [after.stats.helpful, after.stats.unhelpful]
    parts = [after.stats.title]
    for found_club, weeks in sorted(by_club.items()):
        lines = [header]
        for week in sorted(weeks, reverse=True):
            lines.append([week, *(shown(weeks[week].get(name, 0)) for name in names)])
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        body = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        parts.append("\n".join([found_club if club is None else "", *body]).strip("\n"))
    return "\n\n".join(parts)


async def club_table(store: Store, content: Content, club: str) -> str:
    """One club's table (`slack:T0123`, `discord:<guild id>`), for an admin's view of it."""
    return table(content, await store.counts(), club)
