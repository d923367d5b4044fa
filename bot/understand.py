"""Free-text understanding: what a runner typed, turned into a fact value or a reason to re-ask.

Handles picks by number (`2`, `1, 3`), by the option's words or their synonyms and close
misspellings, casual yes/no (`yep`, `nah`, `dunno`), negation (`no swelling`), numbers in digits
and words (`6/10`, `seven`, `like a 6`), durations (`3 wks`, `since last Tuesday`, `Dec 13`) and
distances (`50k a week`). Every word list is content (language.yaml and the facts' synonyms);
this module only knows the shapes.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from bot.content import ChoiceSpec, FactSpec
from bot.content import LanguageFile as Language
from bot.contract import FactContract
from bot.model import Answer, FactValue

__all__ = ["Misunderstood", "Understood", "normalise", "read_distance_and_date", "understand"]

MAX_TEXT = 2000


@dataclass(frozen=True)
class Understood:
    value: FactValue
    from_text: bool = False
    """True when the value was read from words, so the bot says back what it understood."""


@dataclass(frozen=True)
class Misunderstood:
    reason: Literal["unclear", "out_of_range"]


Result = Understood | Misunderstood


def normalise(text: str) -> str:
    """Lower-case, plain apostrophes, no accents on Latin letters, punctuation as spaces."""
    # Mention and link markup (`<@123>`, `<!channel>`, `<#C1|general>`) is noise, never an answer.
    text = re.sub(r"<[@#!][^>]*>", " ", text[:MAX_TEXT])
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = text.lower().replace("`", "'")
    # A comma or full stop ends a clause: `no, it's locked` must not read as `not locked`.
    text = re.sub(r"[,;:!?.]+(?:\s+|$)", " and ", text)
    text = re.sub(r"[^a-z0-9'/.\-]+", " ", text)
    text = re.sub(r"(?<![0-9])[./]|[./](?![0-9])", " ", text)
    return " ".join(text.split())


def understand(
    spec: FactSpec,
    contract: FactContract,
    language: Language,
    *,
    value: Answer | None = None,
    text: str | None = None,
    now: datetime,
    unit: str = "miles",
) -> Result:
    """Read an answer to the question that fills `spec`."""
    if value is not None:
        direct = _direct(spec, contract, value)
        if direct is not None:
            return direct
        text = " ".join(value) if isinstance(value, tuple) else str(value)
    if text is None or not normalise(text):
        return Misunderstood("unclear")
    if spec.kind == "number":
        return _number(spec, contract, language, normalise(text), now, unit)
    return _choices(spec, language, normalise(text))


def _direct(spec: FactSpec, contract: FactContract, value: Answer) -> Result | None:
    """A value picked from a button or sent as `{"value": ...}`; None to read it as text."""
    values = [choice.value for choice in spec.choices]
    if spec.kind == "single":
        return Understood(value) if isinstance(value, str) and value in values else None
    if spec.kind == "multi":
        picked = (value,) if isinstance(value, str) else value
        if isinstance(picked, tuple) and picked and all(v in values for v in picked):
            return Understood(_tidy_multi(spec, set(picked)))
        return None
    if isinstance(value, bool):
        return Misunderstood("unclear")
    if isinstance(value, int | float):
        # Days and miles are whole numbers; a pain score may be 6.5.
        whole = spec.number is not None and spec.number.unit != "score"
        return _in_range(round(value) if whole and value == value else value, contract)
    if isinstance(value, str) and value in values:
        return Understood(value)
    return None


def _in_range(number: float, contract: FactContract, from_text: bool = False) -> Result:
    if number != number or not contract.low <= number <= contract.high:
        return Misunderstood("out_of_range")
    whole = round(number)
    return Understood(whole if abs(number - whole) < 1e-9 else round(number, 1), from_text)


def _tidy_multi(spec: FactSpec, picked: set[str]) -> list[str]:
    """Order as the question lists them; `none` only when nothing else was picked, and an
    `unsure` beats a `none` (an unanswered red flag must never read as no red flag)."""
    if len(picked) > 1:
        picked.discard("none")
    return [choice.value for choice in spec.choices if choice.value in picked]


# --- choices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Phrases:
    by_phrase: dict[str, str]
    pattern: re.Pattern[str]
    words: tuple[str, ...]


_PHRASES: dict[tuple[int, int], tuple[tuple[ChoiceSpec, ...], Language, _Phrases]] = {}


def _phrases(choices: tuple[ChoiceSpec, ...], language: Language) -> _Phrases:
    """The phrase index of a question, built once per content load."""
    key = (id(choices), id(language))
    cached = _PHRASES.get(key)
    if cached is None:
        if len(_PHRASES) > 256:
            _PHRASES.clear()
        # Keeping the objects alive in the value means their ids cannot be reused meanwhile.
        cached = _PHRASES[key] = (choices, language, _build_phrases(choices, language))
    return cached[2]


def _build_phrases(choices: tuple[ChoiceSpec, ...], language: Language) -> _Phrases:
    vocab = {"yes": language.yes, "no": language.no, "unsure": language.unsure, "none": language.no}
    by_phrase: dict[str, str] = {}
    for choice in choices:
        candidates = (choice.value.replace("_", " "), choice.label, *choice.synonyms)
        for phrase in (*candidates, *vocab.get(choice.value, ())):
            key = _squeeze(normalise(phrase), language)
            if key:
                by_phrase.setdefault(key, choice.value)
    ordered = sorted(by_phrase, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w'])(" + "|".join(map(re.escape, ordered)) + r")(?![\w'])")
    words = tuple(phrase for phrase in by_phrase if " " not in phrase and len(phrase) > 3)
    return _Phrases(by_phrase, pattern, words)


def _choices(spec: FactSpec, language: Language, text: str) -> Result:
    values = [choice.value for choice in spec.choices]
    picks = _by_index(text, len(values))
    if picks is not None:
        chosen = {values[i] for i in picks}
        if spec.kind == "single" and len(chosen) != 1:
            return Misunderstood("unclear")
        return Understood(_pack(spec, chosen), from_text=True)

    phrases = _phrases(spec.choices, language)
    text = _squeeze(text, language)
    if text in phrases.by_phrase:
        return Understood(_pack(spec, {phrases.by_phrase[text]}), from_text=True)

    chosen, negated, leftover = _scan(text, phrases, language)
    chosen |= _by_number(spec, text)
    for word in list(leftover):
        # A typo rarely changes the first letter; requiring it keeps `hills` from reading as `chills`.
        alike = [w for w in phrases.words if w[0] == word[0]]
        close = difflib.get_close_matches(word, alike, n=1, cutoff=0.8)
        if close:
            chosen.add(phrases.by_phrase[close[0]])
            leftover.remove(word)
    if not chosen and not negated:
        close = difflib.get_close_matches(text, list(phrases.by_phrase), n=1, cutoff=0.75)
        if close:
            chosen.add(phrases.by_phrase[close[0]])
            leftover = []
    if spec.kind == "single":
        return Understood(chosen.pop(), from_text=True) if len(chosen) == 1 else Misunderstood("unclear")
    if not chosen and negated and "none" in values:
        chosen = {"none"}
    if not chosen or (chosen <= {"none"} and leftover):
        # "none" next to words we could not place might hide something we should know.
        return Misunderstood("unclear")
    return Understood(_tidy_multi(spec, chosen), from_text=True)


def _squeeze(text: str, language: Language) -> str:
    """Drop words that never change which option is meant (`below my kneecap`, `any weight`)."""
    skip = language.skip_words
    return " ".join(word for word in text.split() if word not in skip) if skip else text


def _pack(spec: FactSpec, chosen: set[str]) -> FactValue:
    return _tidy_multi(spec, chosen) if spec.kind == "multi" else next(iter(chosen))


def _by_index(text: str, count: int) -> list[int] | None:
    if not re.fullmatch(r"\d{1,2}(?:\s*(?:,|and|&|\s)\s*\d{1,2})*", text):
        return None
    picks = [int(n) - 1 for n in re.findall(r"\d+", text)]
    return picks if all(0 <= i < count for i in picks) else None


def _by_number(spec: FactSpec, text: str) -> set[str]:
    """A typed number that falls in a choice's band (`I'm 34` picks the 17-54 age band)."""
    found: set[str] = set()
    banded = [choice for choice in spec.choices if choice.numbers]
    for number in re.findall(r"(?<![\w.])\d{1,3}(?![\w.])", text) if banded else ():
        for choice in banded:
            low, high = choice.numbers or (0, 0)
            if low <= int(number) <= high:
                found.add(choice.value)
    return found


def _scan(text: str, phrases: _Phrases, language: Language) -> tuple[set[str], set[str], list[str]]:
    """Find the choices a sentence mentions, those it denies, and the words left unexplained."""
    chosen: set[str] = set()
    negated: set[str] = set()
    covered = [False] * len(text)
    since = 0
    for match in phrases.pattern.finditer(text):
        value = phrases.by_phrase[match.group(1)]
        # Only a negator in the same clause, after the previous match, denies this one:
        # in `not sure and it's locked` the `not` belongs to `not sure`.
        before = text[since : match.start()].split()
        clause = before[
            max((i + 1 for i, w in enumerate(before) if w in language.clause_breaks), default=0) :
        ]
        negator = value in ("no", "none")  # `no fever`: a matched `no` denies what follows
        if not negator and value != "unsure" and any(word in language.negators for word in clause[-3:]):
            negated.add(value)
        else:
            chosen.add(value)
        if not negator:
            since = match.end()
        covered[match.start() : match.end()] = [True] * (match.end() - match.start())
    rest = "".join(" " if hit else char for char, hit in zip(text, covered, strict=True))
    ignore = set(language.filler) | language.negators
    leftover = [word for word in rest.split() if word not in ignore and not word.isdigit()]
    return chosen - negated, negated, leftover


# --- numbers -----------------------------------------------------------------------------------

_NUM = re.compile(r"-?\d+(?:\.\d+)?")


def _number(
    spec: FactSpec, contract: FactContract, language: Language, text: str, now: datetime, unit: str
) -> Result:
    assert spec.number is not None
    kind = spec.number.unit
    tokens = _words_to_numbers(text, language)
    number: float | None = None
    for phrase, value in sorted(spec.number.words.items(), key=lambda kv: -len(kv[0])):
        if re.search(r"(?<![\w'])" + re.escape(normalise(phrase)) + r"(?![\w'])", text):
            # `mild, about a 3`: a number said alongside the word wins.
            if not any(_is_num(t) for t in tokens):
                return _in_range(value, contract, from_text=True)
            break
    if kind in ("days_ago", "days_ahead"):
        number = _days(tokens, text, language, now, ahead=kind == "days_ahead")
    elif kind == "miles":
        number = _miles(tokens, language, unit)
        number = None if number is None else float(round(number))
    else:
        number = _score(tokens)
    if number is not None:
        return _in_range(number, contract, from_text=True)
    if spec.choices:
        special = _choices(spec.model_copy(update={"kind": "single"}), language, text)
        if isinstance(special, Understood):
            return special
    return Misunderstood("unclear")


def _words_to_numbers(text: str, language: Language) -> list[str]:
    """`twenty one` -> `21`, `a couple of` -> `2`, `a week` -> `1 week`; other words unchanged."""
    words = language.number_words
    units = set(language.duration_units) | set(language.distance_units)
    out: list[str] = []
    total: float | None = None
    # A number glued after letters (`u123`, an id) is not a number the runner meant.
    tokens = re.findall(
        r"(?:(?<![\w.])-)?(?<![a-z0-9.])(?<![a-z]-)\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?|[/-]", text
    )
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token in words:
            value = words[token]
            if value in (100, 1000) and total is not None:
                total *= value
            elif total is not None and _adds_to(total, value):
                total += value
            else:
                if total is not None:
                    out.append(_fmt(total))
                total = value
            continue
        if token == "and" and total is not None and total >= 100 and following in words:
            continue
        if token in ("a", "an") and (following in units or following in ("couple", "few", "half")):
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
    return (total >= 20 and total % 10 == 0 and value < 10) or (total >= 100 and value < 100)


def _fmt(number: float) -> str:
    number = max(-_HUGE, min(_HUGE, number))  # `thousand thousand ...` grows past any float
    return str(int(number)) if number == int(number) else str(number)


_HUGE = 1e12


def _float(token: str) -> float:
    """A typed number, held within ±1e12: any number of digits stays finite, so it is re-asked
    as out of range rather than overflowing."""
    return max(-_HUGE, min(_HUGE, float(token)))


def _is_num(token: str) -> bool:
    return _NUM.fullmatch(token) is not None


def _score(tokens: list[str]) -> float | None:
    numbers: list[float] = []
    for index, token in enumerate(tokens):
        if _is_num(token):
            numbers.append(_float(token))
            after = tokens[index + 1 : index + 3]
            if after[:1] == ["/"] or after == ["out", "of"]:
                break  # `6/10`, `6 out of 10`: the first number is the score
    if not numbers:
        return None
    return max(numbers[:2]) if _is_range(tokens) else numbers[0]


def _is_range(tokens: list[str]) -> bool:
    nums = [i for i, t in enumerate(tokens) if _is_num(t)]
    return len(nums) >= 2 and all(t in ("-", "to", "or") for t in tokens[nums[0] + 1 : nums[1]])


def _miles(tokens: list[str], language: Language, unit: str) -> float | None:
    numbers = [i for i, t in enumerate(tokens) if _is_num(t)]
    if not numbers:
        return None
    index = max(numbers[:2], key=lambda i: _float(tokens[i])) if _is_range(tokens) else numbers[0]
    value = _float(tokens[index])
    following = tokens[index + 1 : index + 4]
    for word in following:
        if word in language.distance_units:
            return value * language.distance_units[word]
    per_km = language.distance_units.get("km", 0.621371)
    return value * per_km if unit == "km" else value


def _days(tokens: list[str], text: str, language: Language, now: datetime, *, ahead: bool) -> float | None:
    today = now.date()
    sign = 1 if ahead else -1
    found = _date_in(text, language, today, ahead)
    if found is not None:
        return float((found - today).days * sign)
    for phrase, offset in sorted(language.relative_days.items(), key=lambda kv: -len(kv[0])):
        if re.search(r"(?<![\w'])" + re.escape(phrase) + r"(?![\w'])", text):
            return float(abs(offset))
    for index, day in enumerate(language.weekdays):
        if re.search(r"(?<![\w'])" + re.escape(day) + r"s?(?![\w'])", text):
            gap = (index - today.weekday()) % 7 if ahead else (today.weekday() - index) % 7
            return float(gap or 7)
    total = 0.0
    seen_unit = False
    numbers = [i for i, t in enumerate(tokens) if _is_num(t)]
    for i in numbers:
        unit = next((t for t in tokens[i + 1 : i + 4] if t in language.duration_units), None)
        if unit is not None:
            total += _float(tokens[i]) * language.duration_units[unit]
            seen_unit = True
            if _is_range(tokens[i:]):
                break  # `3-4 weeks`: the lower end, so a recent injury never reads as old
    if seen_unit:
        return float(round(total))
    if numbers:
        return float(round(_float(tokens[numbers[0]])))
    for index, token in enumerate(tokens):
        if token in language.duration_units and index and tokens[index - 1] in ("last", "past", "next"):
            return float(language.duration_units[token])
    return None


_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")


def _month_day(language: Language) -> re.Pattern[str]:
    months = "|".join(sorted(map(re.escape, language.months), key=len, reverse=True))
    return re.compile(
        rf"\b(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:(?:of|de)\s+)?({months})|({months})\s+(\d{{1,2}})(?:st|nd|rd|th)?)\b"
    )


def _date_in(text: str, language: Language, today: date, ahead: bool) -> date | None:
    iso = _DATE.search(text)
    if iso:
        try:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        except ValueError:
            return None
    match = _month_day(language).search(text)
    if not match:
        return None
    day = int(match.group(1) or match.group(4))
    month = language.months[match.group(2) or match.group(3)]
    for year in (today.year, today.year + (1 if ahead else -1)):
        try:
            found = date(year, month, day)
        except ValueError:
            return None
        if (found >= today) if ahead else (found <= today):
            return found
    return None


def read_distance_and_date(
    text: str, language: Language, *, now: datetime, unit: str
) -> tuple[float | None, int | None]:
    """A weekly distance (in miles) and the days until a date, from `40 mi 2026-12-13`,
    `64km in 12 days` or `forty next saturday`: the first number (with its unit) is the distance,
    and what is left is read as the date."""
    said = normalise(text)
    today = now.date()
    dated = _date_in(said, language, today, ahead=True)
    if dated is not None:
        said = _DATE.sub(" ", said, count=1)
        said = _month_day(language).sub(" ", said, count=1)
    tokens = _words_to_numbers(said, language)
    first = next(
        (
            i
            for i, t in enumerate(tokens)
            if _is_num(t)
            and tokens[i + 1 : i + 2] not in ([u] for u in language.duration_units)
            and tokens[i - 1 : i] != ["in"]
        ),
        None,
    )  # `in 12 days` is a date, not a distance
    if first is None:
        found = _days(tokens, said, language, now, ahead=True) if tokens else None
        return None, (dated - today).days if dated else (None if found is None else int(found))
    end = first + 1
    if end < len(tokens) and tokens[end] in language.distance_units:
        end += 1
        if end + 1 < len(tokens) and tokens[end] in ("a", "per") and tokens[end + 1] in ("week", "wk"):
            end += 2
    miles = _miles(tokens[first:end], language, unit)
    if dated is not None:
        return miles, (dated - today).days
    rest = tokens[:first] + tokens[end:]
    days = _days(rest, " ".join(rest), language, now, ahead=True) if rest else None
    return miles, None if days is None else int(days)
