"""Topic lookups and the taper calculator: answers anyone can ask for without a check.

Pure like the engine: content and the time come in, a Reply comes out.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.content import Content, TopicSpec
from bot.contract import FACTS
from bot.expressions import UNKNOWN
from bot.model import Reply
from bot.understand import normalise, read_distance_and_date

__all__ = ["find_topic", "lookup", "topic_names"]

# Share of the usual weekly distance for each of the last three weeks (clinical.md, Taper).
TAPER_WEEKS = (("three_weeks", 20, 0.8, 0.9), ("two_weeks", 13, 0.6, 0.8), ("race_week", 6, 0.4, 0.6))


@dataclass(frozen=True)
class Week:
    label: str
    starts: str
    low: float
    high: float


def topic_names(content: Content) -> list[tuple[str, str]]:
    """(id, title) of every topic, for help texts and autocomplete."""
    return [(topic.id, topic.title) for topic in content.topics]


def find_topic(content: Content, asked: str) -> tuple[TopicSpec | None, list[TopicSpec]]:
    """The topic meant by `asked` (by id, title, alias or a close misspelling), else suggestions."""
    said = normalise(asked)
    names: dict[str, TopicSpec] = {}
    for topic in content.topics:
        for name in (topic.id.replace("_", " "), topic.title, *topic.aliases):
            names.setdefault(normalise(name), topic)
    if said in names:
        return names[said], []
    squashed = {name.replace(" ", "").replace("-", ""): t for name, t in names.items()}
    if said.replace(" ", "").replace("-", "") in squashed:
        return squashed[said.replace(" ", "").replace("-", "")], []
    close = difflib.get_close_matches(said, list(names), n=1, cutoff=0.75)
    if close:
        return names[close[0]], []
    for word in said.split():  # `warmup stuff`, `foam please`
        if word in names:
            return names[word], []
    nearby = difflib.get_close_matches(said, list(names), n=6, cutoff=0.45)
    suggestions: list[TopicSpec] = []
    for name in nearby:
        if names[name] not in suggestions:
            suggestions.append(names[name])
    return None, suggestions[:3]


def lookup(content: Content, topic: str, args: str, *, now: datetime, command: str) -> Reply:
    found, suggestions = find_topic(content, topic)
    context: dict[str, Any] = {
        **content.constants,
        **dict.fromkeys(FACTS, UNKNOWN),
        "level": UNKNOWN,
        "command": command,
    }
    if found is None:
        text = content.templates["topic_unknown"](
            {
                **context,
                # Echo only letters, digits and spaces of what was typed, shortened.
                "topic": normalise(topic)[:40],
                "suggestions": ", ".join(f"**{t.title}** (`{command} {t.id}`)" for t in suggestions),
                "topics": ", ".join(f"`{t.id}`" for t in content.topics),
            }
        )
        return Reply(text)
    if found.id == "taper" and args.strip():
        body = _taper(content, args, now, context)
    else:
        body = content.templates[f"topic:{found.id}"](context)
    professional = content.templates["professional"](context)
    return Reply(f"**{found.title}**\n\n{body}\n\n{professional}")


def _taper(content: Content, args: str, now: datetime, context: dict[str, Any]) -> str:
    unit = str(content.constants.get("unit", "miles"))
    miles, days = read_distance_and_date(args, content.language, now=now, unit=unit)
    high = FACTS["weekly_miles"].high
    say = content.templates
    if miles is None:
        return say["taper:need_distance"](context)
    if not 0 < miles <= high:
        limit = round(high * (1.609344 if unit == "km" else 1))
        return say["taper:bad_distance"]({**context, "high": limit})
    if days is not None and days < 0:
        return say["taper:past_date"](context)
    if days is not None and days > 366:
        return say["taper:far_date"](context)
    today = now.date()
    weeks: list[Week] = []
    build = ""
    race = ""
    if days is not None:
        race_day = today + timedelta(days=days)
        race = _date(content, race_day)
        if days > 21:
            build = _date(content, race_day - timedelta(days=21))  # the day before three weeks out
    for name, before, low, top in TAPER_WEEKS:
        starts = ""
        if days is not None:
            start = today + timedelta(days=days - before)
            end = start + timedelta(days=6)
            if end < today:
                continue  # that week is already behind the runner
            starts = _date(content, start) if start > today else ""
        weeks.append(Week(content.taper_labels[name], starts, miles * low, miles * top))
    plan = {**context, "usual": miles, "race": race, "days": days, "build": build, "weeks": weeks}
    return say["taper:plan"](plan)


def _date(content: Content, day: date) -> str:
    language = content.language
    return language.date_format.format(
        weekday=language.weekday_short[day.weekday()], day=day.day, month=language.month_short[day.month - 1]
    )
