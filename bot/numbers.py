"""Numbers in what runners type: scores, days since or until, distances and ages.

Every reader takes text already through `normalise` and the content's word lists, and returns a
number, a range or None. The shapes are code; the words (`fortnight`, `hace`, `nearly`, `V45`)
are content. Where a sentence holds several numbers the reader picks the one the question asks
for: the worst pain, the earliest start, the nearest race.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.content import LanguageFile as Language

__all__ = [
    "MAX_DIGITS",
    "Span",
    "after_correction",
    "ages",
    "days",
    "distance",
    "is_num",
    "read_distance_and_date",
    "score",
    "tokens_of",
    "without_scale",
]

_NUM = re.compile(r"-?\d+(?:\.\d+)?")
MAX_DIGITS = 9
"""Digits beyond this are not a number anyone means here (and could overflow a float)."""


def is_num(token: str) -> bool:
    return _NUM.fullmatch(token) is not None and len(token.lstrip("-").split(".")[0]) <= MAX_DIGITS


def _fmt(number: float) -> str:
    number = max(-1e12, min(1e12, number))  # `thousand thousand ...` grows past any float
    return str(int(number)) if number == int(number) else str(number)


def has(text: str, phrase: str) -> bool:
    """Whether `phrase` is in `text` as whole words."""
    return re.search(r"(?<![\w'])" + re.escape(phrase) + r"(?![\w'])", text) is not None


def drop(text: str, phrase: str) -> str:
    """`text` with every whole-word `phrase` taken out."""
    return re.sub(r"(?<![\w'])" + re.escape(phrase) + r"(?![\w'])", " ", text)


def after_correction(text: str, language: Language) -> str:
    """`3 days, no wait, 5`, `tuesday, no, wednesday`: only what follows the last correction counts."""
    cut = -1
    # A `no` followed by a comma, which `normalise` writes as `and`, corrects what came before it
    # (`tuesday, no, wednesday`, `diez no, nueve`).
    apart = (f"{word} and" for word in language.no if word.isalpha())
    for marker in (*language.corrections, *apart):
        # `no, espera, 5` reads as `no and espera and 5` once punctuation is a clause break.
        pattern = r"(?:\s+and)?\s+".join(map(re.escape, marker.split()))
        for match in re.finditer(r"(?<![\w'])" + pattern + r"(?![\w'])", text):
            cut = max(cut, match.end())
    if cut < 0:
        return text
    rest = text[cut:].strip()
    if not re.search(r"\d|[a-z]{3}", rest):
        return text
    units = language.duration_units.keys() | language.distance_units.keys()
    said = re.findall(r"\d+(?:[.,]\d+)?\s*([^\W\d]+)", text[:cut])
    unitless = re.search(r"\d", rest) and not units & set(re.findall(r"[^\W\d]+", rest))
    if said and said[-1] in units and unitless:
        # `3 weeks, no wait, 2`: the number said again keeps the unit it corrects.
        rest = re.sub(r"(\d+(?:[.,]\d+)?)(?!.*\d)", rf"\1 {said[-1]}", rest, count=1)
    return rest


def without_scale(text: str, language: Language) -> str:
    """`on a scale of 1 to 10, a 5`, `del 1 al 10 un 5`: the scale named beside a score is not
    the score. Left as it is when the scale is all there is."""
    joiners = "|".join(map(re.escape, sorted(language.range_words, key=len, reverse=True)))
    rest = re.sub(rf"(?<![\w.,])[01]\s*(?:{joiners})\s*10(?![\w.,])", " ", text)
    return rest if re.search(r"\d", rest) else text


def usual_part(text: str, language: Language) -> str:
    """`zero lately, usually 20`, `20 normally but 0 now`: the usual figure's part of the text
    (the number just before the last usual word, or else the one after it); all of it if none."""
    found = None
    for word in language.usual:
        for match in re.finditer(r"(?<![\w'])" + re.escape(word) + r"(?![\w'])", text):
            if found is None or match.end() > found.end():
                found = match
    if found is None:
        return text
    before = re.search(r"(\d[\d.]*(?:\s+[a-z]+)?)\s*$", text[: found.start()])  # `20 miles usually`
    if before:
        return before.group(1)
    after = text[found.end() :].strip()
    return after if re.match(r"\D{0,20}?\d", after) else text


def tokens_of(text: str, language: Language) -> list[str]:
    """`twenty one` -> `21`, `treinta y cinco` -> `35`, `4 hundred` -> `400`, `a week` -> `1 week`,
    `un cinco` -> `5`; every other word unchanged."""
    words = language.number_words
    units = set(language.duration_units) | set(language.distance_units)
    joiners = set(language.number_joiners)
    # A number glued after letters (`u123`, an id) is not a number the runner meant.
    raw = re.findall(r"(?:(?<![\w.])-)?(?<![a-z0-9.])(?<![a-z]-)\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?|[/-]", text)
    out: list[str] = []
    total: float | None = None
    for index, token in enumerate(raw):
        following = raw[index + 1] if index + 1 < len(raw) else ""
        if (
            token in language.articles
            and following not in units
            and following not in words
            and not is_num(following)
        ):
            out.append(token)  # `un montón`: an article, not the number one
            continue
        if token in words or (is_num(token) and following in words and words[following] in (100, 1000)):
            value = words[token] if token in words else float(token)
            if value == 1 and total is None and (following in words or is_num(following)):
                continue  # `un cinco`, `one 6`: an article before the number
            if value in (100, 1000) and total is not None:
                total *= value
            elif total is not None and _adds_to(total, value):
                total += value
            else:
                if total is not None:
                    out.append(_fmt(total))
                total = value
            continue
        if (
            (token in joiners or token == "-" or token in ("of", "de"))
            and total is not None
            and following in words
            and (_adds_to(total, words[following]) or words[following] in (100, 1000))
        ):
            continue  # `a hundred and fifty`, `treinta y cinco`
        if token in ("a", "an") and (following in units or following in ("couple", "few")):
            if total is not None:
                out.append(_fmt(total))
            total = 1 if following in units else None
            continue
        if token == "of" and total is not None:
            continue
        if total is not None:
            out.append(_fmt(total))
            total = None
        out.append(token)
    if total is not None:
        out.append(_fmt(total))
    return out


def _adds_to(total: float, value: float) -> bool:
    """`twenty` then `one` make 21; `a hundred` then `fifty` make 150."""
    return (total >= 20 and total % 10 == 0 and total < 100 and 0 < value < 10) or (
        total >= 100 and total % 100 == 0 and 0 < value < 100
    )


def _numbers(tokens: list[str]) -> list[int]:
    return [i for i, t in enumerate(tokens) if is_num(t)]


def _followed_by(
    tokens: list[str], index: int, words: set[str] | dict[str, float], reach: int = 2
) -> str | None:
    for word in tokens[index + 1 : index + 1 + reach]:
        if word in words:
            return word
        if is_num(word):
            return None
    return None


# --- scores ------------------------------------------------------------------------------------


def score(tokens: list[str], language: Language) -> float | None:
    """The worst pain said: `3 at rest, 7 on hills` is 7, `6/10 but 9 on stairs` is 9, `4-6` is 6.

    A number that is a scale (`/10`, `out of 10`) or carries a unit (`2 days`, `5k`) is not a score.
    """
    units = {**language.duration_units, **language.distance_units}
    skip: set[int] = set()
    for i in _numbers(tokens):
        if i in skip:
            continue
        j = i + 1
        for word in language.denominators:
            parts = word.split()
            end = j + len(parts)
            if tokens[j:end] == parts and end < len(tokens) and tokens[end] in ("10", "ten"):
                skip.add(end)
        if tokens[j : j + 1] == ["/"] and tokens[j + 1 : j + 2] == ["10"]:
            skip.add(j + 1)
            if float(tokens[i]) > 10:
                tokens[i] = "10"  # `11/10`: off the scale is the top of it
        if _followed_by(tokens, i, units, 1) or tokens[j : j + 1] == ["%"]:
            skip.add(i)
    found = [float(tokens[i]) for i in _numbers(tokens) if i not in skip]
    return max(found) if found else None


# --- days --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A number read with how sure the reading is."""

    value: float
    sure: bool = True


def days(text: str, language: Language, now: datetime, *, ahead: bool) -> Span | None:
    """Days since (or until) what the runner describes: a date, a weekday, `yesterday`, `2 weeks`,
    `a fortnight ago`, `72 hours`, `since the 3rd`, `the 14th of next month`, or a bare number.

    Of several, the earliest start (or the nearest race) counts; a date that reads two ways
    (`3/4`) is not sure.
    """
    today = now.date()
    found: list[float] = []
    sure = True
    text, named = _dated_weekdays(spell_days(after_correction(text, language), language), language)
    for when, certain in _dates(text, language, today, ahead):
        found.append(float((when - today).days if ahead else (today - when).days))
        # `sunday the 7th` when the 7th is a Monday: one of the two is wrong, so ask
        sure = sure and certain and (not named or when.weekday() in named)
    text = _strip_dates(text, language)
    # `a fortnight ago today`: the `today` only says when they are counting from; `por la mañana`
    # only the time of day.
    for word in (*language.ago_today, *language.day_parts):
        text = drop(text, word)
    for phrase, offset in sorted(language.relative_days.items(), key=lambda kv: -len(kv[0])):
        for match in re.finditer(r"(?<![\w'])" + re.escape(phrase) + r"(?![\w'])", text):
            after = text[match.end() :].split()[:1]
            if not (after and after[0] in language.negators):  # `mañana no, pasado mañana`
                found.append(float(abs(offset)))
        text = drop(text, phrase)
    names = "|".join(map(re.escape, (*language.weekdays, *language.weekday_abbrev)))
    weeks = "|".join(map(re.escape, language.week_words))
    if names and weeks:  # `a week on saturday` is `saturday week`, `a fortnight on sunday` `sunday fortnight`
        text = re.sub(
            rf"\b(?:a|1|one)\s+({weeks}|{'|'.join(map(re.escape, _fortnights(language)))})\s+"
            rf"(?:on|from|this|next)?\s*({names})s?\b",
            lambda m: f"{m[2]} {m[1]}",
            text,
        )
    tokens = tokens_of(text, language)
    weekday = _weekday(tokens, language, today, ahead)
    if weekday is not None:
        found.append(weekday)
    found.extend(_durations(tokens, language))
    if not found:
        month = _month_alone(tokens, language, today, ahead)
        if month is not None:
            return month
        bare = [
            float(tokens[i]) for i in _numbers(tokens) if not _followed_by(tokens, i, language.distance_units)
        ]
        if bare:
            found.append(bare[0])
            sure = sure and not 1900 <= bare[0] <= 2100  # a year, or that many days?
        else:
            for index, token in enumerate(tokens):
                if token in language.duration_units and index and tokens[index - 1] in language.last_next:
                    found.append(float(language.duration_units[token]))
    if not found:
        return None
    value = min(found) if ahead else max(found)
    return Span(float(math.floor(value + 1e-6)), sure)


def _month_alone(tokens: list[str], language: Language, today: date, ahead: bool) -> Span | None:
    """`marathon in april`, `since march`: from the month's nearest edge, sure only when the whole
    month falls on one side of every threshold the rules use (a week, two, three)."""
    ordinary = set(language.common) | set(language.filler)  # `may` is usually not the month
    month = next((language.months[t] for t in tokens if t in language.months and t not in ordinary), None)
    if month is None:
        return None
    year = today.year
    if ahead and month < today.month:
        year += 1
    if not ahead and month > today.month:
        year -= 1
    first = date(year, month, 1)
    last = date(year + month // 12, month % 12 + 1, 1)
    ends = sorted(abs((edge - today).days) for edge in (first, last))
    if (first <= today < last) and ahead:
        ends[0] = 0
    value = ends[0] if ahead else ends[1]
    sure = all((ends[0] > limit) == (ends[1] > limit) for limit in (7, 14, 21))
    return Span(float(value), sure)


def _durations(tokens: list[str], language: Language) -> list[float]:
    """`2 weeks`, `2 weeks and 3 days` (one span), `3-4 weeks` (the lower end, so a recent injury
    never reads as old), `a week and a half`, `half an hour`."""
    units = language.duration_units
    spans: list[float] = []
    current: float | None = None
    last_unit = 0.0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if is_num(token):
            j = i + 1
            if j + 1 < len(tokens) and tokens[j] in language.range_words and is_num(tokens[j + 1]):
                j += 2
            k = j
            while k < min(len(tokens), j + 2) and tokens[k] not in units and not is_num(tokens[k]):
                k += 1
            if k < len(tokens) and tokens[k] in units and tokens[j : j + 1] != ["k"]:
                current = (current or 0.0) + float(token) * units[tokens[k]]
                last_unit = units[tokens[k]]
                i = k + 1
                continue
        elif token in language.half_words:
            if current is not None and last_unit:
                current += last_unit / 2  # `a week and a half`
                i += 1
                continue
            k = i + 1
            while k < len(tokens) and tokens[k] in ("a", "an", "un", "una"):
                k += 1
            if k < len(tokens) and tokens[k] in units:
                spans.append(units[tokens[k]] / 2)  # `half a day`, `media hora`
                i = k + 1
                continue
        elif current is not None and (token in language.number_joiners or token in ("a", "an", "un", "una")):
            i += 1
            continue
        if current is not None:
            spans.append(current)
            current, last_unit = None, 0.0
        i += 1
    if current is not None:
        spans.append(current)
    return spans


def _fortnights(language: Language) -> tuple[str, ...]:
    """The words for two weeks (`fortnight`, `quincena`), from the language's duration units."""
    return tuple(word for word, days in language.duration_units.items() if days == 14)


def _weekday(tokens: list[str], language: Language, today: date, ahead: bool) -> float | None:
    names = {name: i for i, name in enumerate(language.weekdays)}
    names.update(dict(language.weekday_abbrev.items()))
    for index, token in enumerate(tokens):
        day = names.get(token if token in names else token.rstrip("s"))
        if day is None:
            continue
        gap = (day - today.weekday()) % 7 if ahead else (today.weekday() - day) % 7
        gap = gap or 7
        # `saturday week`, `el sabado de la semana que viene`: the one after.
        later = tokens[index + 1 : index + 5]
        if not any(w in language.this_words for w in later):
            if not set(_fortnights(language)).isdisjoint(later):
                gap += 14  # `sunday fortnight`
            elif any(w in language.week_words for w in later):
                gap += 7
        return float(gap)
    for phrase in language.weekend:
        if has(" ".join(tokens), phrase):
            saturday = 5
            gap = (saturday - today.weekday()) % 7 if ahead else (today.weekday() - saturday) % 7
            return float(gap)
    return None


_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_SLASHED = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?(?![\d/])")


def _month_days(text: str, language: Language) -> list[tuple[int, int, int, int]]:
    """(start, end, day, month) of each `dec 13`, `13th of december`, `13 de diciembre`."""
    months = "|".join(sorted(map(re.escape, language.months), key=len, reverse=True))
    ordinal = "(?:st|nd|rd|th)?"
    month_first = re.compile(rf"\b({months})\s+(?:the\s+)?(\d{{1,2}}){ordinal}\b")
    day_first = re.compile(rf"\b(\d{{1,2}}){ordinal}\s+(?:(?:of|de|del)\s+)?({months})\b")
    found: list[tuple[int, int, int, int]] = []
    taken: list[tuple[int, int]] = []
    for pattern, day_at, month_at in ((month_first, 2, 1), (day_first, 1, 2)):
        for match in pattern.finditer(text):
            day = int(match[day_at])
            if not 1 <= day <= 31 or any(a < match.end() and match.start() < b for a, b in taken):
                continue
            taken.append((match.start(), match.end()))
            found.append((match.start(), match.end(), day, language.months[match[month_at]]))
    return found


def _cut(text: str, spans: list[tuple[int, int, int, int]]) -> str:
    for start, end, *_ in sorted(spans, reverse=True):
        text = text[:start] + " " + text[end:]
    return text


def _dated_weekdays(text: str, language: Language) -> tuple[str, set[int]]:
    """`sunday the 6th`, `el domingo 6`, `sat 12th december`: a weekday named with a day of the
    month is that date, not the coming weekday (`the 6th`, `el 6`). Also the weekdays so named
    (0 is Monday), to check the date against."""
    index = {name: i for i, name in enumerate(language.weekdays)} | dict(language.weekday_abbrev)
    names = "|".join(map(re.escape, sorted(index, key=len, reverse=True)))
    markers = "|".join(map(re.escape, sorted(language.day_markers, key=len, reverse=True))) or "the"
    units = "|".join(map(re.escape, (*language.duration_units, *language.distance_units)))
    marker = language.day_markers[0] if language.day_markers else "the"
    named: set[int] = set()

    def dated(match: re.Match[str]) -> str:
        named.add(index[match[1]])
        return f"{marker} {match[2]}"

    text = re.sub(
        rf"\b({names})s?\s+(?:(?:{markers})\s+)?(\d{{1,2}}(?:st|nd|rd|th)?)\b(?!\s*(?:/|-)\s*\d)(?!\s*(?:{units})\b)",
        dated,
        text,
    )
    return text, named


def _day_of_month(language: Language) -> re.Pattern[str]:
    markers = "|".join(map(re.escape, language.day_markers)) or "the"
    return re.compile(
        rf"\b(?:(?:{markers})\s+)+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*(?:/|-)\s*\d)|\b(\d{{1,2}})(?:st|nd|rd|th)\b"
    )


def spell_days(text: str, language: Language) -> str:
    """Days of the month said in words as digits: `the seventh of march` -> `the 7th of march`,
    `el siete de marzo` -> `el 7 de marzo`, `twenty-first` -> `21st`."""
    if language.ordinals:
        tens = {w: v for w, v in language.number_words.items() if v in (20, 30)}
        words = "|".join(sorted(map(re.escape, language.ordinals), key=len, reverse=True))
        if tens:
            before = "|".join(map(re.escape, tens))
            text = re.sub(
                rf"\b({before})[\s-]+({words})\b",
                lambda m: f"{int(tens[m[1]] + language.ordinals[m[2]])}th",
                text,
            )
        text = re.sub(rf"\b({words})\b", lambda m: f"{language.ordinals[m[1]]}th", text)
    months = "|".join(sorted(map(re.escape, language.months), key=len, reverse=True))
    small = {w: v for w, v in language.number_words.items() if 1 <= v <= 31 and v == int(v)}
    if small and months:
        said = "|".join(sorted(map(re.escape, small), key=len, reverse=True))
        text = re.sub(
            rf"\b({said})(\s+(?:of\s+|de\s+|del\s+)?(?:{months})\b)",
            lambda m: f"{int(small[m[1]])}{m[2]}",
            text,
        )
    return text


def _dates(text: str, language: Language, today: date, ahead: bool) -> list[tuple[date, bool]]:
    found: list[tuple[date, bool]] = []
    for match in _ISO.finditer(text):
        with contextlib.suppress(ValueError):
            found.append((date(int(match[1]), int(match[2]), int(match[3])), True))
    for match in _SLASHED.finditer(text):
        if match[2] == "10" and not match[3]:
            continue  # `6/10` is a score
        readings = set()
        for day, month in ((match[1], match[2]), (match[2], match[1])):
            when = _nearest(today, int(month), int(day), ahead, int(match[3]) if match[3] else None)
            if when is not None:
                readings.add(when)
        if readings:
            pick = min(readings) if ahead else max(readings)
            found.append((pick, len(readings) == 1))
    for name, (month, day) in language.holidays.items():
        if has(text, name):
            when = _nearest(today, month, day, ahead, None)
            if when is not None:
                found.append((when, True))
    for _, _, day, month in _month_days(text, language):
        when = _nearest(today, month, day, ahead, None)
        if when is not None:
            found.append((when, True))
    rest = _SLASHED.sub(" ", _ISO.sub(" ", text))
    rest = _cut(rest, _month_days(rest, language))
    units = {**language.duration_units, **language.distance_units}
    for match in _day_of_month(language).finditer(rest):
        day = int(match[1] or match[2])
        following = rest[match.end() :].split()[:1]
        if not 1 <= day <= 31 or (match[1] and following and following[0] in units):
            continue  # `for the 3 weeks` is a span, not the 3rd
        after = rest[match.end() : match.end() + 30]
        month_shift = 1 if any(has(after, p) for p in language.next_month) else 0
        month_shift = -1 if any(has(after, p) for p in language.last_month) else month_shift
        if month_shift:
            year, month = today.year, today.month + month_shift
            year, month = (year + 1, 1) if month == 13 else ((year - 1, 12) if month == 0 else (year, month))
            with contextlib.suppress(ValueError):
                found.append((date(year, month, day), True))
            continue
        when = _nearest_day(today, day, ahead)
        if when is not None:
            found.append((when, True))
    return found


def _strip_dates(text: str, language: Language) -> str:
    text = _SLASHED.sub(lambda m: m[0] if m[2] == "10" else " ", _ISO.sub(" ", text))
    text = _cut(text, _month_days(text, language))
    for name in language.holidays:
        text = drop(text, name)
    units = {**language.duration_units, **language.distance_units}
    dated = False

    def cut(match: re.Match[str]) -> str:
        nonlocal dated
        following = text[match.end() :].split()[:1]
        if match[1] and following and following[0] in units:
            return match[0]
        dated = True
        return " "

    text = _day_of_month(language).sub(cut, text)
    if dated:
        for phrase in (*language.next_month, *language.last_month):
            text = drop(text, phrase)
    return text


def _nearest(today: date, month: int, day: int, ahead: bool, year: int | None) -> date | None:
    if year is not None:
        year = year + 2000 if year < 100 else year
        try:
            return date(year, month, day)
        except ValueError:
            return None
    for candidate in (today.year, today.year + (1 if ahead else -1)):
        try:
            found = date(candidate, month, day)
        except ValueError:
            return None
        if (found >= today) if ahead else (found <= today):
            return found
    return None


def _nearest_day(today: date, day: int, ahead: bool) -> date | None:
    """`since the 3rd`: the last 3rd on or before today (or the next one on or after it)."""
    year, month = today.year, today.month
    for _ in range(3):
        try:
            found = date(year, month, day)
        except ValueError:
            found = None
        if found is not None and ((found >= today) if ahead else (found <= today)):
            return found
        month += 1 if ahead else -1
        year, month = (year + 1, 1) if month == 13 else ((year - 1, 12) if month == 0 else (year, month))
    return None


# --- distances ---------------------------------------------------------------------------------


def distance(
    tokens: list[str], language: Language, unit: str, *, weekly: bool = False, said: str = ""
) -> float | None:
    """A distance in miles: `300`, `1200 miles`, `500 km`, `2k miles`, `25-30` (27.5), and for a
    weekly figure `5 runs of about 8k` (40 km) or `5k a day`. A bare number is in the club's unit."""
    if weekly:
        runs = _runs(tokens, language)
        if len(runs) > 1:
            parts = [distance(run, language, unit, weekly=True) for run in runs]
            if all(part is not None for part in parts):
                return sum(part for part in parts if part is not None)  # `3x 5k plus a 10k`
    units = language.distance_units
    count_words = set(language.count_words)
    # `3 months`, `an hour a day`: a time, not a distance (`4 days of 10k`: a count of runs).
    numbers = [
        i
        for i in _numbers(tokens)
        if not _followed_by(tokens, i, language.duration_units, 1)
        or (weekly and _followed_by(tokens, i, count_words, 1))
    ]
    if not numbers:
        return None
    per_unit = units.get("km", 0.621371) if unit == "km" else 1.0

    def miles_at(index: int) -> float:
        value = float(tokens[index])
        after = tokens[index + 1 : index + 4]
        if after[:1] == ["k"] and len(after) > 1 and after[1] in units and after[1] != "k":
            return value * 1000 * units[after[1]]  # `2k miles`
        for word in after:
            if word in units:
                return value * units[word]
            if is_num(word):
                break
        return value * per_unit

    counted = [i for i in numbers if _followed_by(tokens, i, count_words, 2)]
    if counted:
        others = [i for i in numbers if i not in counted]
        if not weekly or not others:
            return None  # a count of runs is not a distance
        # `4 days of 10k`, and `5 km a day, 6 days` (six days, not every day of the week)
        return float(tokens[counted[0]]) * miles_at(others[0])
    miles = miles_at(numbers[0])
    if len(numbers) >= 2 and all(t in language.range_words for t in tokens[numbers[0] + 1 : numbers[1]]):
        # `25-30 km`: the middle, in the unit said after the second number
        low, high = float(tokens[numbers[0]]), float(tokens[numbers[1]])
        miles = (low + high) / 2 * (miles_at(numbers[1]) / high) if high else 0.0
    if weekly and any(has(said or " ".join(tokens), p) for p in language.per_day):
        miles *= 7
    return miles


def _runs(tokens: list[str], language: Language) -> list[list[str]]:
    """A week told run by run (`3x 5k plus a 10k`, `tres de 8 km y una de 15`): the parts between
    the plus words, when every part has a number with a distance unit; else the whole."""
    parts: list[list[str]] = [[]]
    for token in tokens:
        if token in language.plus_words and parts[-1]:
            parts.append([])
        else:
            parts[-1].append(token)
    units = language.distance_units

    def measured(part: list[str]) -> bool:
        return any(is_num(t) and _followed_by(part, i, units, 1) for i, t in enumerate(part))

    if len(parts) > 1 and all(measured(part) for part in parts):
        return parts
    return [tokens]


def read_distance_and_date(
    said: str, language: Language, *, now: datetime, unit: str
) -> tuple[float | None, int | None]:
    """A weekly distance (in miles) and the days until a date, from `40 mi 2026-12-13`,
    `64km in 12 days` or `forty next saturday`: the first number (with its unit) is the distance,
    and what is left is read as the date."""
    today = now.date()
    dated = _dates(said, language, today, ahead=True)
    said = _strip_dates(said, language)
    tokens = tokens_of(said, language)
    first = next(
        (
            i
            for i, t in enumerate(tokens)
            if is_num(t)
            and not _followed_by(tokens, i, language.duration_units, 1)
            and tokens[i - 1 : i] not in (["in"], ["en"])
        ),
        None,
    )  # `in 12 days` is a date, not a distance
    if first is None:
        found = days(" ".join(tokens), language, now, ahead=True)
        when = min((d for d, _ in dated), default=None)
        return None, (when - today).days if when else (None if found is None else int(found.value))
    end = first + 1
    if end < len(tokens) and tokens[end] in language.distance_units:
        end += 1
        if end + 1 < len(tokens) and tokens[end] in ("a", "per") and tokens[end + 1] in ("week", "wk"):
            end += 2
    miles = distance(tokens[first:end], language, unit)
    if dated:
        return miles, (min(d for d, _ in dated) - today).days
    rest = tokens[:first] + tokens[end:]
    found = days(" ".join(rest), language, now, ahead=True) if rest else None
    return miles, None if found is None else int(found.value)


# --- ages --------------------------------------------------------------------------------------


def ages(text: str, language: Language, today: date) -> list[tuple[float, float]]:
    """The ages a sentence says, each as a (low, high) range: `34` (34, 34), `nearly 17` (16, 16),
    `turning 55 next month` (54, 54), `late 50s` (57, 59), `40s` (40, 49), `V45` (45, 49),
    `U17` (0, 16), `about 40` (38, 42)."""
    found: list[tuple[float, float]] = []
    # Club categories first: `v45`, `m55`, `u17`, `sub 17`, `under 17s`.
    masters = "|".join(
        sorted(
            (re.escape(p) for p, k in language.age_categories.items() if k == "masters"),
            key=len,
            reverse=True,
        )
    )
    under = "|".join(
        sorted(
            (re.escape(p) for p, k in language.age_categories.items() if k == "under"), key=len, reverse=True
        )
    )
    if masters:
        for match in re.finditer(rf"(?<![a-z0-9])(?:{masters})\s?(\d{{2}})(?![0-9])", text):
            low = float(match[1])
            found.append((low, low + 4))
        text = re.sub(rf"(?<![a-z0-9])(?:{masters})\s?\d{{2}}(?![0-9])", " ", text)
    if under:
        for match in re.finditer(rf"(?<![a-z0-9])(?:{under})\s?-?\s?(\d{{2}})s?(?![0-9])", text):
            found.append((0.0, float(match[1]) - 1))
        text = re.sub(rf"(?<![a-z0-9])(?:{under})\s?-?\s?\d{{2}}s?(?![0-9])", " ", text)
    # Decades: `40s`, `late 50s`, `forties`, `cuarenta y pico`.
    part_words = "|".join(map(re.escape, language.decade_parts)) or "early"
    for match in re.finditer(rf"(?:\b({part_words})\s+(?:(?:in|my|the|los|de)\s+)*)?\b(\d)0\s?s\b", text):
        found.append(_decade(int(match[2]) * 10, match[1], language))
    text = re.sub(rf"(?:\b({part_words})\s+(?:(?:in|my|the|los|de)\s+)*)?\b\d0\s?s\b", " ", text)
    for word, tens in language.decade_words.items():
        named = re.search(rf"(?:\b({part_words})\s+(?:(?:in|my|the|los|de)\s+)*)?\b{re.escape(word)}\b", text)
        if named:
            found.append(_decade(tens, named[1], language))
            text = text[: named.start()] + " " + text[named.end() :]
    tokens = tokens_of(text, language)
    said = " ".join(tokens)
    for phrase, (low, high) in sorted(language.decade_after.items(), key=lambda kv: -len(kv[0])):
        for match in re.finditer(rf"\b(\d)0 {re.escape(phrase)}\b", said):
            found.append((float(match[1]) * 10 + low, float(match[1]) * 10 + high))
        said = re.sub(rf"\b\d0 {re.escape(phrase)}\b", " ", said)
    tokens = said.split()
    other_units = {**language.duration_units, **language.distance_units}
    for i in _numbers(tokens):
        value = float(tokens[i])
        if any(has(" ".join(tokens[max(0, i - 5) : i]), w) for w in language.born) and (
            1900 <= value <= today.year or (value < 100 and len(tokens[i]) == 2)
        ):
            if value < 100:  # `born in 71`
                value += 2000 if value <= today.year % 100 else 1900
            found.append((today.year - value - 1, today.year - value))  # `born 1972`
            continue
        if any(has(" ".join(tokens[max(0, i - 2) : i]), w) for w in language.spans):
            continue  # `running for forty years`, `desde los treinta`
        if _followed_by(tokens, i, other_units, 1) and tokens[i + 1] not in language.age_units:
            continue
        before = " ".join(tokens[max(0, i - 3) : i])
        after = tokens[i + 1 : i + 4]
        later = " ".join(after)
        coming = (
            any(has(before, w) for w in language.birthday_ahead)
            or any(later.startswith(w + " ") or later == w for w in language.birthday_after)
            or any(w in language.months or w in language.weekdays for w in after[:2])
            or (re.match(r"\S+ \d+ (\S+)", later) is not None and later.split()[2] in language.duration_units)
        )
        if coming and not any(has(before, w) for w in language.birthday_past):
            value -= 1
        if any(has(before, w) for w in language.approx) or after[:1] == ["ish"]:
            found.append((value - 2, value + 2))
        else:
            found.append((value, value))
    return found


def _decade(tens: int, part: str | None, language: Language) -> tuple[float, float]:
    if part and part in language.decade_parts:
        low, high = language.decade_parts[part]
        return (float(tens + low), float(tens + high))
    return (float(tens), float(tens + 9))
