"""Pydantic models of the YAML in content/, and the loader that checks them once at start-up.

Every problem found names the file, the line and what is wrong; the loader collects them all
before raising `ContentError`, so an author fixes a broken file in one pass.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.contract import FACTS, Kind, Level
from bot.errors import ContentError, ContentProblem
from bot.expressions import (
    UNKNOWN,
    Condition,
    Template,
    compared_values,
    compile_condition,
    compile_template,
    names_in,
)
from bot.yamlfile import Lines, line_of, load_yaml

__all__ = [
    "CLUB_TEXT",
    "Advice",
    "ChoiceSpec",
    "ClubText",
    "CommandName",
    "Content",
    "ContentSource",
    "FactSpec",
    "Rule",
    "Step",
    "TopicSpec",
    "Where",
    "default_content_dir",
    "layers",
    "load_content",
    "locales",
    "with_club",
]

_log = logging.getLogger(__name__)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChoiceSpec(_Spec):
    value: str
    label: str = Field(min_length=1, max_length=75)
    synonyms: tuple[str, ...] = ()
    numbers: tuple[float, float] | None = None
    """A typed number in this range (inclusive) means this choice, e.g. an age band."""
    km: tuple[float, float] | None = None
    """A distance in this range of kilometres means this choice (`a 15k`, `20 miles`); where two
    ranges hold it, the narrower one. A bare number is in kilometres."""
    needs_pain: tuple[str, ...] = ()
    """Synonyms that mean this choice only when it hurts (`clicks`): not read in a message that
    says it doesn't hurt (the language's `painless` words) and names no pain."""
    careful: bool = False
    """The least cautious answer (`no` to a warning sign): never read from a bare `no` said
    next to words the bot could not place; it asks again instead."""


class NumberSpec(_Spec):
    unit: Literal["days_ago", "days_ahead", "score", "miles"]
    display: str
    """Template for the summary, with `value` the number."""
    words: dict[str, float] = {}
    """Words that stand for a number on this question (`mild: 3`)."""
    confirm: tuple[tuple[float, float], ...] = ()
    """Ranges so unusual for this question that the bot checks before taking them (pain 0)."""
    weekly: bool = False
    """A distance per week: `5 runs of 8k` is 40 km."""


class FactSpec(_Spec):
    kind: Kind
    question: str
    hint: str
    summary: str
    choices: tuple[ChoiceSpec, ...] = ()
    number: NumberSpec | None = None

    @cached_property
    def values(self) -> frozenset[str]:
        """The values of its choices."""
        return frozenset(self.ordered)

    @cached_property
    def ordered(self) -> tuple[str, ...]:
        """The values of its choices, in the order the question lists them."""
        return tuple(choice.value for choice in self.choices)


class FactsFile(_Spec):
    facts: dict[str, FactSpec]


class StepSpec(_Spec):
    ask: str
    when: str | None = None


class FlowFile(_Spec):
    steps: tuple[StepSpec, ...] = Field(min_length=1)


class RuleSpec(_Spec):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
    level: Level
    when: str
    reason: str
    note: str = ""


class RulesFile(_Spec):
    rules: tuple[RuleSpec, ...] = Field(min_length=1)


class LevelSpec(_Spec):
    headline: str
    body: str


class AdviceSpec(_Spec):
    id: str
    title: str
    when: str
    text: str
    """One line: the outcome shows the most important few in full and names the rest."""
    priority: int = 50
    topic: str | None = None
    """The lookup topic that says more."""


class OutcomesFile(_Spec):
    levels: dict[Level, LevelSpec]
    budget: dict[Level, int] = {"urgent": 150, "see_professional": 250, "self_care": 250}
    """The most words an outcome message may have, checked by `kneebot content check`."""
    show: int = Field(default=4, ge=1, le=10)
    """How many advice lines an outcome shows in full."""
    advice: tuple[AdviceSpec, ...]
    more: str
    """Names the topics of the advice not shown in full; sees `more`, a list of topic ids."""
    professional: str
    go_today: str
    disclaimer: str
    summary_title: str
    layout: str
    answers: str
    """The summary of answers for a professional, sent as its own message after the outcome."""


ClubText = Literal[
    "start", "settings", "topics", "title", "save", "club_name", "booking_name", "booking_link",
    "emergency_number", "emergency_hint", "unit", "language", "language_name", "unset", "refused",
    "saved", "store_down", "too_long", "plain_text", "https_link", "bad_link", "digits_only",
    "miles_or_km", "known_language",
]  # fmt: skip
_HOME = (
    "**kneebot** is an automated assistant for runners with knee pain. It is not a clinician and "
    "diagnoses nothing: a short, private check in a direct message ends with where to get help and "
    "tips for your running.\n\nYour answers are kept for {{ retention_hours }} hours so you can "
    "carry on later, then deleted; `/knee forget` deletes them at once."
)
CLUB_TEXT: dict[ClubText, str] = {
    # The words of the club settings form when content has none: English.
    "start": "Start a check",
    "settings": "Club settings",
    "topics": "Topics anyone can look up",
    "title": "Club settings",
    "save": "Save",
    "club_name": "Club name",
    "booking_name": "Physio to book",
    "booking_link": "Booking link (https://)",
    "emergency_number": "Emergency number",
    "emergency_hint": "The number runners dial, digits only, like 911, 999, 112 or 000.",
    "unit": "Distance unit",
    "language": "Default language",
    "language_name": "English",
    "unset": "As the server is set up",
    "refused": "Only the club's admins can change its settings. Ask one of them.",
    "saved": "Saved. Every check from now on uses the club's new settings.",
    "store_down": "The settings could not be saved just now. Please try again in a minute.",
    "too_long": "Keep it to 80 characters or fewer.",
    "plain_text": "Use letters, numbers and ordinary punctuation only.",
    "https_link": "Give a full https:// link, like https://physio.example.com/book.",
    "bad_link": "That link is too long or has characters a link cannot have.",
    "digits_only": "Give the number runners dial, digits only, like 911, 999, 112 or 000.",
    "miles_or_km": "Choose miles or km.",
    "known_language": "Choose one of the languages kneebot speaks.",
}


class MessagesFile(_Spec):
    emergency_number: str = Field(default="911 (US), 999 (UK) or 112 (EU)", min_length=1, max_length=120)
    """How outcomes name the emergency number when neither the club nor the settings say."""
    intro: str
    start_label: str = Field(max_length=75)
    resume: str
    resume_label: str = Field(max_length=75)
    start_over_label: str = Field(max_length=75)
    restarted: str
    forgotten: str
    finished: str
    expired: str
    understood: str
    not_understood: dict[Kind, str]
    out_of_range: str
    unreadable: str
    stale_answer: str
    goodbye: str
    goodbye_nothing_kept: str
    store_down: str
    error: str
    moved_to_dm: str
    confirm: str
    """Checks an unusual reading; sees `answer`."""
    confirm_yes_label: str = Field(max_length=75)
    confirm_no_label: str = Field(max_length=75)
    took_back: str
    nothing_to_take_back: str
    controls: dict[Literal["done", "type_answer", "type_below", "pick_all", "back"], str]
    """Words on buttons and menus around a question."""
    help: str
    home: str = _HOME
    """What kneebot does and keeps, on an app's home page (Slack's App Home)."""
    club: dict[ClubText, str] = CLUB_TEXT
    """Words of the club settings form an admin fills in, and of its buttons."""


CommandName = Literal["start", "resume", "restart", "forget", "back", "data"]


class LanguageFile(_Spec):
    yes: tuple[str, ...]
    no: tuple[str, ...]
    unsure: tuple[str, ...]
    commands: dict[CommandName, tuple[str, ...]]
    filler: tuple[str, ...]
    negators: frozenset[str]
    """Words that deny what follows them in the same clause (`no swelling`)."""
    clause_breaks: frozenset[str]
    """Words that start a new clause, ending a negation's reach (`not sure and it's locked`)."""
    unit_names: dict[Literal["miles", "km"], str] = {"miles": "miles", "km": "km"}
    skip_words: frozenset[str] = frozenset()
    """Words dropped before matching options, from the text and the options alike."""
    number_words: dict[str, float]
    number_joiners: tuple[str, ...] = ()
    articles: tuple[str, ...] = ()
    """Number words that are also articles: a number only before a unit (`un mes`, not `un montón`)."""
    ordinals: dict[str, int] = {}
    """`seventh`, `primero`: a day of the month said in words."""
    """Words inside a number said in words (`a hundred and fifty`, `treinta y cinco`)."""
    duration_units: dict[str, float]
    distance_units: dict[str, float]
    """Words for a distance unit and how many miles one of it is."""
    relative_days: dict[str, int]
    weekdays: tuple[str, str, str, str, str, str, str]
    months: dict[str, int]
    common: tuple[str, ...] = ()
    """Everyday words that are never taken for a misspelt option (`could` is not `cold`)."""
    fine_words: tuple[str, ...] = ()
    """After an option, a denial of it (`the calf is FINE`, `el pie NORMAL`)."""
    question_words: tuple[str, ...] = ()
    """A message that starts with one of these asks something (`what do you mean by...`)."""
    denial_lists: tuple[str, ...] = ()
    """Words that carry a denial on to the next option (`no fever OR chills`)."""
    mostly: tuple[str, ...] = ()
    """Before the option that counts most (`MOSTLY front, a bit inside`)."""
    holidays: dict[str, tuple[int, int]] = {}
    """Named days and their (month, day): `halloween`, `nochevieja`."""
    born: tuple[str, ...] = ()
    """Before a year of birth (`born 1972`)."""
    spans: tuple[str, ...] = ()
    """Before a length of time, which is not an age (`running FOR forty years`)."""
    polite: tuple[str, ...] = ()
    """Words around a command that change nothing (`please`, `can you`): `delete my data please`."""
    irony: tuple[str, ...] = ()
    """`🙄`, `yeah right`: beside the least cautious answer, a sign it is not meant (asked again)."""
    cannot: frozenset[str] = frozenset()
    """`cant`, `unable`: words that put an option in the negative without denying it (`cant walk`)."""
    corrections: tuple[str, ...] = ()
    """`no wait`, `I mean`: only what follows the last one counts."""
    emoji: dict[str, str] = {}
    """Emoji and the word each stands for (👍 yes)."""
    decimal_comma: bool = False
    """In a number, a comma is the decimal point and a dot groups thousands (`6,5` is six and a
    half, `1.200` twelve hundred). Only where a number is asked: `1,3` still picks two choices."""
    range_words: tuple[str, ...] = ("-", "to", "or")
    """Between two numbers of one range (`3-4`, `4 to 6`)."""
    denominators: tuple[str, ...] = ()
    """Between a score and its scale (`6 out of 10`)."""
    half_words: tuple[str, ...] = ()
    ago_today: tuple[str, ...] = ()
    """Phrases where `today` only says when they count from (`a fortnight ago today`)."""
    day_parts: tuple[str, ...] = ()
    """A time of the day, which says nothing of the day (`por la mañana`: not `mañana`, tomorrow)."""
    last_next: tuple[str, ...] = ()
    """`last week`, `next month`: one of the unit."""
    weekday_abbrev: dict[str, int] = {}
    """Short weekday names and their number (Monday 0)."""
    week_words: tuple[str, ...] = ()
    """After a weekday, the week after (`saturday week`)."""
    this_words: tuple[str, ...] = ()
    weekend: tuple[str, ...] = ()
    day_markers: tuple[str, ...] = ()
    """Before a day of the month said alone (`since the 3rd`, `el 3`)."""
    next_month: tuple[str, ...] = ()
    last_month: tuple[str, ...] = ()
    count_words: tuple[str, ...] = ()
    """After a count of runs, which is not a distance (`5 runs of 8k`)."""
    per_day: tuple[str, ...] = ()
    usual: tuple[str, ...] = ()
    """Beside the figure a runner gives as their usual one (`usually 20`, `20 normally`): asked for
    a usual week, it counts over another said with it (`zero lately`)."""
    painless: tuple[str, ...] = ()
    """`no pain`, `doesnt hurt`: what a runner says of something that does not hurt."""
    painful: tuple[str, ...] = ()
    """`painfully`, `hurts`: pain named, which keeps a `needs_pain` synonym."""
    shorthand: dict[str, str] = {}
    """Chat shorthand read as the words it stands for (`q`: `que`, `ns`: `no se`)."""
    plus_words: tuple[str, ...] = ()
    """Between the runs of a week, each with its unit (`3x 5k plus a 10k`): they add up."""
    age_units: tuple[str, ...] = ()
    """Words after an age (`34 years old`)."""
    birthday_ahead: tuple[str, ...] = ()
    """Before an age not reached yet (`nearly 17`, `turning 55`)."""
    birthday_after: tuple[str, ...] = ()
    """After an age not reached yet (`17 next month`, `17 soon`); months and weekdays count too."""
    birthday_past: tuple[str, ...] = ()
    """Before an age already reached (`turned 55 in march`)."""
    approx: tuple[str, ...] = ()
    """Before a rough age (`about 40`)."""
    decade_parts: dict[str, tuple[int, int]] = {}
    """`early`, `mid`, `late` and the years of a decade each covers."""
    decade_words: dict[str, int] = {}
    """`forties` and the decade it names."""
    decade_after: dict[str, tuple[int, int]] = {}
    """After a round number, the years of its decade meant (`forty something` 0-9,
    `cincuenta y muchos` 6-9)."""
    age_categories: dict[str, Literal["masters", "under"]] = {}
    """Club age-category prefixes: masters (`V45`: 45 to 49) and under (`U17`: 16 or under)."""
    date_format: str = "{weekday} {day} {month}"
    """How a date is written: short weekday and month names below."""
    weekday_short: tuple[str, str, str, str, str, str, str] = (
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
        "Sat",
        "Sun",
    )
    month_short: tuple[str, ...] = (
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
    )


class TopicSpec(_Spec):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    title: str = Field(min_length=1, max_length=75)
    aliases: tuple[str, ...] = ()
    text: str


class TaperSpec(_Spec):
    plan: str
    labels: dict[Literal["three_weeks", "two_weeks", "race_week"], str]
    need_distance: str
    bad_distance: str
    past_date: str
    far_date: str


class TopicsFile(_Spec):
    topics: tuple[TopicSpec, ...] = Field(min_length=1)
    taper: TaperSpec
    unknown: str


class AfterQuestionSpec(_Spec):
    question: str
    choices: tuple[ChoiceSpec, ...] = Field(min_length=2)


class OfferSpec(AfterQuestionSpec):
    levels: tuple[Level, ...] = ("see_professional", "self_care")
    accepted: str
    """Sees `due`, the check-in's date."""
    declined: str


class AfterRuleSpec(_Spec):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
    level: Level
    reason: str


class PathSpec(_Spec):
    id: str
    when: str
    say: str = ""
    then: Literal["rescreen", "offer", "outcome", "end"]
    rule: AfterRuleSpec | None = None
    """For `rescreen` and `outcome`: the least level the triage may end at, and why."""


class ProgressSpec(AfterQuestionSpec):
    paths: tuple[PathSpec, ...] = Field(min_length=1)


class HelpfulSpec(AfterQuestionSpec):
    thanks: str


class StatsSpec(_Spec):
    title: str
    week: str
    levels: dict[Level, str]
    helpful: str
    unhelpful: str
    empty: str
    admins_only: str


class AfterFile(_Spec):
    offer: OfferSpec
    progress: ProgressSpec
    helpful: HelpfulSpec
    data: str
    stats: StatsSpec


class ClubFile(_Spec):
    name: str = Field(default="", max_length=80)
    booking_name: str = Field(default="", max_length=80)
    booking_link: str = Field(default="", max_length=300, pattern=r"^(https://\S+)?$")
    emergency_number: str = Field(default="", max_length=120)
    unit: Literal["", "miles", "km"] = ""


FILES: dict[str, type[_Spec]] = {
    "facts.yaml": FactsFile,
    "flow.yaml": FlowFile,
    "rules.yaml": RulesFile,
    "outcomes.yaml": OutcomesFile,
    "messages.yaml": MessagesFile,
    "language.yaml": LanguageFile,
    "topics.yaml": TopicsFile,
    "club.yaml": ClubFile,
    "after.yaml": AfterFile,
}
# The values of the questions asked after an outcome (the transcript protocol's).
AFTER_VALUES: dict[str, tuple[str, ...]] = {
    "check_in": ("yes", "no"),
    "check_in_progress": ("better", "same", "worse"),
    "helpful": ("yes", "no"),
}
# What the check-in paths' conditions and texts may use beyond facts and settings.
PATH_NAMES = frozenset({"progress", "level", "check_ins", "days_left", "taper"})

SETTINGS_NAMES = frozenset(
    {"emergency_number", "retention_hours", "unit", "club_name", "booking_name", "booking_link"}
)
FACT_NAMES = frozenset(FACTS)
ADVICE_NAMES = frozenset({"level", "rule"})
LAYOUT_NAMES = ADVICE_NAMES | frozenset(
    {"level", "rule", "headline", "reason", "body", "advice", "professional", "go_today"}
    | {"disclaimer", "summary_title", "summary", "more", "more_line"}
)
TOPIC_NAMES = frozenset({"command"})
TAPER_NAMES = TOPIC_NAMES | frozenset({"usual", "race", "days", "build", "weeks", "high"})
UNKNOWN_TOPIC_NAMES = TOPIC_NAMES | frozenset({"topic", "suggestions", "topics"})
# The extra names each message template may use, beyond facts and settings.
MESSAGE_NAMES: dict[str, frozenset[str]] = {
    "understood": frozenset({"answer"}),
    "confirm": frozenset({"answer"}),
    "out_of_range": frozenset({"low", "high"}),
    "help": frozenset({"command"}),
}
AFTER_NAMES: dict[str, frozenset[str]] = {
    "offer": frozenset({"days", "due"}),
    "accepted": frozenset({"days", "due"}),
    "data": frozenset({"facts", "due", "until"}),
}
# What a trial run sees: no fact known yet, plausible settings, every extra name empty.
_SAMPLE: Mapping[str, Any] = {
    **dict.fromkeys(FACT_NAMES | {"level", "value", "answer", "low", "high", "rule"}, UNKNOWN),
    **dict.fromkeys(TAPER_NAMES | UNKNOWN_TOPIC_NAMES | PATH_NAMES | {"days", "due", "until"}, UNKNOWN),
    "facts": (),
    **dict.fromkeys(LAYOUT_NAMES - {"level", "rule", "advice", "summary"}, ""),
    "emergency_number": "112",
    "retention_hours": 24,
    "unit": "miles",
    "club_name": "",
    "booking_name": "",
    "booking_link": "",
    "advice": (),
    "summary": (),
}


@dataclass(frozen=True)
class Where:
    """Where a piece of content was written, for messages about it."""

    file: str
    line: int | None
    source: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    level: Level
    when: Condition
    reason: Template
    where: Where = Where("", None)


@dataclass(frozen=True)
class Advice:
    id: str
    title: Template
    when: Condition
    text: Template
    priority: int = 50
    topic: str | None = None


@dataclass(frozen=True)
class Step:
    ask: str
    when: Condition | None
    where: Where = Where("", None)


@dataclass(frozen=True)
class CheckInPath:
    """A way on after a check-in's answer (content/after.yaml `progress.paths`)."""

    id: str
    when: Condition
    then: str
    rule: Rule | None


@dataclass(frozen=True)
class Content:
    """Checked, compiled content: what the engine runs on. Immutable once loaded."""

    version: str
    facts: Mapping[str, FactSpec]
    steps: tuple[Step, ...]
    rules: tuple[Rule, ...]
    advice: tuple[Advice, ...]
    templates: Mapping[str, Template]
    """Compiled texts by name: `question:<fact>`, `display:<fact>`, `level:<level>:headline`…"""
    messages: MessagesFile
    language: LanguageFile
    topics: tuple[TopicSpec, ...]
    taper_labels: Mapping[str, str]
    constants: Mapping[str, Any]
    locale: str = "en"
    advice_shown: int = 4
    budget: Mapping[str, int] = field(default_factory=dict)
    """How many advice lines an outcome shows in full; the rest are named as topics."""
    after: AfterFile | None = None
    """What happens after the outcome: the check-in, "was this helpful?", `mydata`, stats."""
    paths: tuple[CheckInPath, ...] = ()
    settled: Mapping[str, Template] = field(default_factory=dict)
    """The templates rendered once from the settings alone, as compiled: `with_club` renders them
    again with a club's own values."""
    derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """What readers of this content work out from it once (the engine's look-up tables), kept on
    it so that it can only ever serve this content and goes when the content does. A copy made
    with `dataclasses.replace` starts with none."""


def default_content_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "content"


class _Problems:
    def __init__(self) -> None:
        self.items: list[ContentProblem] = []

    def add(self, file: str, line: int | None, message: str) -> None:
        self.items.append(ContentProblem(file, line, message))


def _parse(path: Path, problems: _Problems) -> tuple[Any, Lines] | None:
    shown = str(path)
    if path.is_symlink() and not path.resolve().is_relative_to(path.parent.resolve()):
        # A club's folder is read by a bot with its own rights: it may not point elsewhere.
        problems.add(shown, None, "points outside its content folder; copy the file in instead")
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(shown, None, f"missing; every content folder needs {path.name}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(shown, None, f"cannot be read: {exc}")
        return None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        problems.add(shown, mark.line + 1 if mark else None, f"not valid YAML: {reason}")
        return None


_KEYS = ("id", "value", "ask")


def _merge(
    base: Any, over: Any, over_lines: Lines, here: tuple[Any, ...], there: tuple[Any, ...], lines: Lines
) -> Any:
    """`over` laid on `base`: mappings merge, lists of items with an id (or value, or ask) merge by
    it, anything else is replaced. `lines` gets the overlay's line of every merged path."""
    if there in over_lines:
        lines[here] = over_lines[there]
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for name, value in over.items():
            merged[name] = _merge(base.get(name), value, over_lines, (*here, name), (*there, name), lines)
        return merged
    key = next((k for k in _KEYS if _keyed(base, k) and _keyed(over, k)), None)
    if key is not None:
        merged_list = list(base)
        for index, item in enumerate(over):
            found = next((n for n, old in enumerate(merged_list) if old[key] == item[key]), None)
            at = len(merged_list) if found is None else found
            old = merged_list[found] if found is not None else None
            value = _merge(old, item, over_lines, (*here, at), (*there, index), lines)
            if found is None:
                merged_list.append(value)
            else:
                merged_list[found] = value
        return merged_list
    _lines_under(over_lines, there, here, lines)
    return over


def _keyed(items: Any, key: str) -> bool:
    return isinstance(items, list) and bool(items) and all(isinstance(i, dict) and key in i for i in items)


def _lines_under(over_lines: Lines, there: tuple[Any, ...], here: tuple[Any, ...], lines: Lines) -> None:
    for path, line in over_lines.items():
        if path[: len(there)] == there:
            lines[(*here, *path[len(there) :])] = line


def is_overlay(directory: Path) -> bool:
    """A folder without every content file only overrides what it has."""
    return directory.resolve() != default_content_dir().resolve() and not all(
        (directory / name).exists() for name in FILES
    )


def layers(directory: Path | None, locale: str = "en") -> list[Path]:
    """The folders a content is made of, first the complete one, then each overlay in order:
    a language's folder (`content/es/`) and a club's overlay folder with its own language folder."""
    builtin = default_content_dir()
    chosen = directory or builtin
    base = chosen if not is_overlay(chosen) else builtin
    found = [base]
    if locale != "en":
        found.append(base / locale)
    if chosen != base:
        found.append(chosen)
        if locale != "en":
            found.append(chosen / locale)
    return [folder for index, folder in enumerate(found) if index == 0 or folder.is_dir()]


def locales() -> list[str]:
    """The languages the built-in content speaks: English and each language folder."""
    builtin = default_content_dir()
    extra = sorted(d.name for d in builtin.iterdir() if d.is_dir() and (d / "messages.yaml").exists())
    return ["en", *extra]


def languages_of(directory: Path | None) -> list[str]:
    """The languages a content folder speaks: English, then each folder inside it holding content
    files (an overlay also speaks the built-in languages)."""
    chosen = directory or default_content_dir()
    folders = [chosen] if not is_overlay(chosen) else [default_content_dir(), chosen]
    found = {
        sub.name
        for folder in folders
        if folder.is_dir()
        for sub in folder.iterdir()
        if sub.is_dir() and any((sub / name).exists() for name in FILES)
    }
    return ["en", *sorted(found - {"en"})]


def _read(folders: list[Path], problems: _Problems) -> dict[str, tuple[Any, Lines, str]]:
    """Parse, merge and validate every content file; return (model, lines, shown file) by file.

    The first folder is complete; each later one is laid over it, and problems in what an overlay
    says are reported at the overlay's own file and line.
    """
    parsed: dict[str, tuple[Any, Lines, str]] = {}
    for name, model in FILES.items():
        shown = str(folders[0] / name)
        loaded = _parse(folders[0] / name, problems)
        for folder in folders[1:]:
            if loaded is None or not (folder / name).exists():
                continue
            over = _parse(folder / name, problems)
            if over is None:
                loaded = None
                continue
            lines: Lines = dict(loaded[1])
            loaded = (_merge(loaded[0], over[0], over[1], (), (), lines), lines)
            shown = str(folder / name)
        if loaded is None:
            continue
        data, lines = loaded
        try:
            parsed[name] = (model.model_validate(data), lines, shown)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "(top level)"
                got = f" (got {error['input']!r})" if error["type"] != "missing" else ""
                problems.add(shown, line_of(lines, error["loc"]), f"{where}: {error['msg']}{got}"[:300])
    return parsed


class _Compiler:
    """Compiles conditions and templates, checking the names they use as it goes."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self.uses: dict[int, set[str]] = {}
        """The names each compiled template uses, by the template's id."""

    def condition(
        self, source: str, file: str, line: int | None, what: str, extra: frozenset[str] = frozenset()
    ) -> Condition | None:
        try:
            unknown = names_in(source, expression=True) - FACT_NAMES - SETTINGS_NAMES - extra
            values = compared_values(source)
            compiled = compile_condition(source)
        except TemplateSyntaxError as exc:
            self.problems.add(file, line, f"{what}: condition {source!r} is not valid: {exc.message}")
            return None
        for name in sorted(unknown):
            self.problems.add(file, line, f"{what}: condition names unknown fact {name!r}")
        if not unknown:
            self._try(lambda: compiled(_SAMPLE), file, line, f"{what}: condition")
        for fact, value in values:
            contract = FACTS.get(fact)
            if contract and contract.kind != "number" and value not in contract.values:
                allowed = ", ".join(contract.values)
                self.problems.add(file, line, f"{what}: {fact} has no value {value!r}; it takes {allowed}")
        return compiled if not unknown else None

    def template(
        self, source: str, file: str, line: int | None, what: str, extra: frozenset[str] = frozenset()
    ) -> Template | None:
        try:
            used = names_in(source, expression=False)
            unknown = used - FACT_NAMES - SETTINGS_NAMES - extra
            compiled = compile_template(source)
            self.uses[id(compiled)] = used
        except TemplateSyntaxError as exc:
            at = line + exc.lineno - 1 if line else None
            self.problems.add(file, at, f"{what}: template is not valid: {exc.message}")
            return None
        for name in sorted(unknown):
            self.problems.add(file, line, f"{what}: template uses undefined variable {name!r}")
        if not unknown:
            self._try(lambda: compiled(_SAMPLE), file, line, f"{what}: template")
        return compiled if not unknown else None

    def _try(self, run: Callable[[], object], file: str, line: int | None, what: str) -> None:
        """Run once with nothing known, to catch what the sandbox refuses before a runner does."""
        try:
            run()
        except SecurityError as exc:
            self.problems.add(file, line, f"{what} does something content may not: {exc}")
        except Exception:
            pass  # Arithmetic on facts not yet known may fail here; it is fine once they are.


def load_content(
    directory: Path | None = None, constants: Mapping[str, Any] | None = None, locale: str = "en"
) -> Content:
    """Load, check and compile a content folder (in a language). Raises ContentError listing
    every problem."""
    directory = directory or default_content_dir()
    problems = _Problems()
    if not directory.is_dir():
        raise ContentError([ContentProblem(str(directory), None, "is not a folder")])
    folders = layers(directory, locale)
    parsed = _read(folders, problems)
    if len(parsed) < len(FILES):
        raise ContentError(problems.items)
    club: ClubFile = parsed["club.yaml"][0]
    constants = {
        "club_name": "",
        "booking_name": "",
        "booking_link": "",
        **dict(constants or {}),
        **{k: v for k, v in (("club_name", club.name), ("booking_name", club.booking_name)) if v},
        **{
            k: v
            for k, v in (("booking_link", club.booking_link), ("emergency_number", club.emergency_number))
            if v
        },
        **({"unit": club.unit} if club.unit else {}),
    }
    if not constants.get("emergency_number"):
        constants["emergency_number"] = parsed["messages.yaml"][0].emergency_number
    language_file: LanguageFile = parsed["language.yaml"][0]
    constants.setdefault("unit", "miles")  # as the settings' default: a text may always name it
    constants["unit_word"] = language_file.unit_names.get(constants["unit"], "miles")
    compiler = _Compiler(problems)
    templates: dict[str, Template] = {}

    def keep(name: str, compiled: Template | None) -> None:
        if compiled is not None:
            templates[name] = compiled

    facts_file, lines, file = parsed["facts.yaml"]
    facts: dict[str, FactSpec] = facts_file.facts
    _check_facts(facts, lines, file, problems)
    for name, spec in facts.items():
        at = line_of(lines, ("facts", name))
        keep(f"question:{name}", compiler.template(spec.question, file, at, f"fact {name!r}"))
        keep(f"hint:{name}", compiler.template(spec.hint, file, at, f"fact {name!r} hint"))
        if spec.number:
            at = line_of(lines, ("facts", name, "number", "display"))
            value = frozenset({"value"})
            keep(f"display:{name}", compiler.template(spec.number.display, file, at, name, value))

    flow, lines, file = parsed["flow.yaml"]
    steps = _compile_steps(flow, lines, file, facts, compiler, problems)

    rules_file, lines, file = parsed["rules.yaml"]
    rules = _compile_rules(rules_file, lines, file, compiler, problems)

    outcomes, lines, file = parsed["outcomes.yaml"]
    advice: list[Advice] = []
    for index, item in enumerate(outcomes.advice):
        at = line_of(lines, ("advice", index))
        when = compiler.condition(item.when, file, at, f"advice {item.id!r}", ADVICE_NAMES)
        text = compiler.template(item.text, file, at, f"advice {item.id!r}", ADVICE_NAMES)
        title = compiler.template(item.title, file, at, f"advice {item.id!r} title", ADVICE_NAMES)
        if when and text and title:
            advice.append(Advice(item.id, title, when, text, item.priority, item.topic))
    for level in ("urgent", "see_professional", "self_care"):
        spec_ = outcomes.levels.get(level)
        if spec_ is None:
            problems.add(file, line_of(lines, ("levels",)), f"levels: no text for {level!r}")
            continue
        for part in ("headline", "body"):
            at = line_of(lines, ("levels", level, part))
            text = getattr(spec_, part)
            keep(f"level:{level}:{part}", compiler.template(text, file, at, level, ADVICE_NAMES))
    for part in ("professional", "go_today", "disclaimer", "summary_title"):
        at = line_of(lines, (part,))
        keep(part, compiler.template(getattr(outcomes, part), file, at, part, ADVICE_NAMES))
    at = line_of(lines, ("more",))
    keep("more", compiler.template(outcomes.more, file, at, "more", ADVICE_NAMES | {"more"}))
    at = line_of(lines, ("answers",))
    keep("answers", compiler.template(outcomes.answers, file, at, "answers", LAYOUT_NAMES))
    at = line_of(lines, ("layout",))
    keep("layout", compiler.template(outcomes.layout, file, at, "layout", LAYOUT_NAMES))
    if "professional" not in names_in(outcomes.layout, expression=False):
        problems.add(file, at, "layout: every outcome must show {{ professional }}")
    if "disclaimer" not in names_in(outcomes.layout, expression=False):
        problems.add(file, at, "layout: every outcome must show {{ disclaimer }}")

    messages, lines, file = parsed["messages.yaml"]
    for name in MessagesFile.model_fields:
        if name == "controls":
            continue
        source = getattr(messages, name)
        for kind, text in source.items() if isinstance(source, dict) else [(None, source)]:
            path = (name, kind) if kind else (name,)
            extra = MESSAGE_NAMES.get(name, frozenset())
            keep(":".join(map(str, path)), compiler.template(text, file, line_of(lines, path), name, extra))
    for kind in ("single", "multi", "number"):
        if kind not in messages.not_understood:
            problems.add(file, line_of(lines, ("not_understood",)), f"not_understood: no {kind!r} text")

    topics_file, lines, file = parsed["topics.yaml"]
    seen_ids: set[str] = set()
    for index, topic in enumerate(topics_file.topics):
        at = line_of(lines, ("topics", index))
        if topic.id in seen_ids:
            problems.add(file, at, f"topic id {topic.id!r} is used twice")
        seen_ids.add(topic.id)
        keep(f"topic:{topic.id}", compiler.template(topic.text, file, at, f"topic {topic.id!r}", TOPIC_NAMES))
    taper = topics_file.taper
    for name in ("plan", "need_distance", "bad_distance", "past_date", "far_date"):
        at = line_of(lines, ("taper", name))
        keep(f"taper:{name}", compiler.template(getattr(taper, name), file, at, f"taper {name}", TAPER_NAMES))
    for label in ("three_weeks", "two_weeks", "race_week"):
        if label not in taper.labels:
            problems.add(file, line_of(lines, ("taper", "labels")), f"taper labels: no text for {label!r}")
    at = line_of(lines, ("unknown",))
    keep("topic_unknown", compiler.template(topics_file.unknown, file, at, "unknown", UNKNOWN_TOPIC_NAMES))

    after, lines, file = parsed["after.yaml"]
    paths = _compile_after(after, lines, file, compiler, keep, problems)

    if problems.items:
        raise ContentError(problems.items)
    settled: dict[str, Template] = {}
    for name, template in list(templates.items()):
        if compiler.uses.get(id(template), {"?"}) <= constants.keys():
            # It depends on settings alone: render it once now, not on every turn.
            settled[name] = template
            templates[name] = _fixed(template(constants))
    digest = hashlib.sha256()
    for folder in folders:
        for name in FILES:
            if (folder / name).exists():
                digest.update((folder / name).read_bytes())
    content = Content(
        version=digest.hexdigest()[:12],
        facts=facts,
        steps=steps,
        rules=rules,
        advice=tuple(advice),
        templates=templates,
        messages=messages,
        language=parsed["language.yaml"][0],
        topics=topics_file.topics,
        taper_labels=dict(topics_file.taper.labels),
        constants=constants,
        locale=locale,
        advice_shown=outcomes.show,
        budget=dict(outcomes.budget),
        after=after,
        paths=paths,
        settled=settled,
    )
    _log.info("content loaded from %s, version %s", directory, content.version)
    return content


def _compile_after(
    after: AfterFile,
    lines: Lines,
    file: str,
    compiler: _Compiler,
    keep: Callable[[str, Template | None], None],
    problems: _Problems,
) -> tuple[CheckInPath, ...]:
    """The check-in's texts and paths: templates `after:<name>`, one path per `progress.paths`."""
    for fact, spec in (
        ("check_in", after.offer),
        ("check_in_progress", after.progress),
        ("helpful", after.helpful),
    ):
        part = {"check_in": "offer", "check_in_progress": "progress", "helpful": "helpful"}[fact]
        values = [choice.value for choice in spec.choices]
        if sorted(values) != sorted(AFTER_VALUES[fact]):
            problems.add(
                file, line_of(lines, (part, "choices")),
                f"{part}: choices must be {', '.join(AFTER_VALUES[fact])}, not {', '.join(values)}",
            )  # fmt: skip
    texts = {
        "offer": (after.offer.question, ("offer", "question")),
        "accepted": (after.offer.accepted, ("offer", "accepted")),
        "declined": (after.offer.declined, ("offer", "declined")),
        "progress": (after.progress.question, ("progress", "question")),
        "helpful": (after.helpful.question, ("helpful", "question")),
        "thanks": (after.helpful.thanks, ("helpful", "thanks")),
        "data": (after.data, ("data",)),
    }
    for name, (text, where) in texts.items():
        extra = AFTER_NAMES.get(name, frozenset())
        keep(f"after:{name}", compiler.template(text, file, line_of(lines, where), name, extra))
    paths: list[CheckInPath] = []
    for index, path in enumerate(after.progress.paths):
        at = line_of(lines, ("progress", "paths", index))
        what = f"check-in path {path.id!r}"
        when = compiler.condition(path.when, file, at, what, PATH_NAMES)
        keep(f"after:say:{path.id}", compiler.template(path.say, file, at, what, PATH_NAMES))
        if path.then in ("rescreen", "outcome") and path.rule is None:
            problems.add(file, at, f"{what}: `then: {path.then}` needs a `rule` (the least level)")
        rule = None
        if path.rule is not None:
            reason = compiler.template(path.rule.reason, file, at, f"{what} reason", PATH_NAMES)
            if reason is not None:
                rule = Rule(path.rule.id, path.rule.level, lambda _context: True, reason, Where(file, at))
        if when is not None:
            paths.append(CheckInPath(path.id, when, path.then, rule))
    return tuple(paths)


def _fixed(text: str) -> Template:
    return lambda _context: text


CLUB_NAMES = frozenset({"club_name", "booking_name", "booking_link", "emergency_number", "unit"})


def with_club(content: Content, values: Mapping[str, str]) -> Content:
    """The content as one club sees it: its own values (`CLUB_NAMES`, an empty one unset) laid
    over the files' and the settings'. Only the templates that depend on settings alone are
    rendered again, so this costs a few milliseconds, not a load."""
    given = {name: value for name, value in values.items() if name in CLUB_NAMES and value}
    if not given:
        return content
    constants = {**content.constants, **given}
    unit = str(constants.get("unit", "miles"))
    constants["unit_word"] = content.language.unit_names.get(unit, unit)  # type: ignore[call-overload]
    templates = dict(content.templates)
    for name, template in content.settled.items():
        templates[name] = _fixed(template(constants))
    return replace(content, constants=constants, templates=templates)


def _check_facts(facts: Mapping[str, FactSpec], lines: Lines, file: str, problems: _Problems) -> None:
    for name, spec in facts.items():
        at = line_of(lines, ("facts", name))
        contract = FACTS.get(name)
        if contract is None:
            problems.add(file, at, f"unknown fact {name!r}; the facts are {', '.join(FACTS)}")
            continue
        if spec.kind != contract.kind:
            problems.add(file, at, f"fact {name!r} is {contract.kind!r}, not {spec.kind!r}")
        if (spec.number is None) != (contract.kind != "number"):
            problems.add(file, at, f"fact {name!r}: 'number:' goes with number facts, and only them")
        values = [choice.value for choice in spec.choices]
        for index, value in enumerate(values):
            if value not in contract.values:
                allowed = ", ".join(contract.values) or "no words, only numbers"
                problems.add(
                    file,
                    line_of(lines, ("facts", name, "choices", index)),
                    f"fact {name!r}: choice value {value!r} is outside the contract ({allowed})",
                )
            elif values.index(value) != index:
                problems.add(file, at, f"fact {name!r}: choice value {value!r} appears twice")
        if contract.kind != "number":
            missing = [value for value in contract.values if value not in values]
            if missing:
                problems.add(file, at, f"fact {name!r}: no choice for {', '.join(missing)}")
    for name in FACTS:
        if name not in facts:
            problems.add(file, line_of(lines, ("facts",)), f"fact {name!r} is missing")


def _compile_steps(
    flow: FlowFile,
    lines: Lines,
    file: str,
    facts: Mapping[str, FactSpec],
    compiler: _Compiler,
    problems: _Problems,
) -> tuple[Step, ...]:
    steps: list[Step] = []
    asked: set[str] = set()
    for index, step in enumerate(flow.steps):
        at = line_of(lines, ("steps", index))
        if step.ask not in facts:
            problems.add(file, at, f"step {index + 1} asks unknown fact {step.ask!r}")
            continue
        if step.ask in asked:
            problems.add(file, at, f"step {index + 1} asks {step.ask!r} a second time")
        when = None
        if step.when is not None:
            when = compiler.condition(step.when, file, at, f"step {step.ask!r}")
            later = names_in(step.when, expression=True) & FACT_NAMES - asked
            for name in sorted(later):
                problems.add(file, at, f"step {step.ask!r} depends on {name!r}, which is not asked before it")
        asked.add(step.ask)
        steps.append(Step(step.ask, when, Where(file, at, step.when or "")))
    if flow.steps[0].ask != "red_flags" or flow.steps[0].when is not None:
        problems.add(file, line_of(lines, ("steps", 0)), "the red-flag screen must be asked first, always")
    for name in FACTS:
        if name not in asked:
            problems.add(file, line_of(lines, ("steps",)), f"fact {name!r} is never asked")
    return tuple(steps)


def _compile_rules(
    rules_file: RulesFile, lines: Lines, file: str, compiler: _Compiler, problems: _Problems
) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    seen: set[str] = set()
    order = {"urgent": 0, "see_professional": 1, "self_care": 2}
    last = 0
    for index, spec in enumerate(rules_file.rules):
        at = line_of(lines, ("rules", index))
        if spec.id in seen:
            problems.add(file, at, f"rule id {spec.id!r} is used twice")
        seen.add(spec.id)
        if order[spec.level] < last:
            problems.add(file, at, f"rule {spec.id!r}: {spec.level} rules must come before milder ones")
        last = order[spec.level]
        when = compiler.condition(spec.when, file, at, f"rule {spec.id!r}")
        reason = compiler.template(spec.reason, file, at, f"rule {spec.id!r} reason")
        if when and reason:
            rules.append(Rule(spec.id, spec.level, when, reason, Where(file, at, spec.when)))
    final = rules_file.rules[-1]
    if final.when.strip() != "true":
        problems.add(
            file,
            line_of(lines, ("rules", len(rules_file.rules) - 1)),
            f'the last rule ({final.id!r}) must be `when: "true"` so every triage ends in an outcome',
        )
    return tuple(rules)


class ContentSource:
    """The content a running bot serves, in every language, reloaded when its files change.

    A change that fails to load is logged with its problems and the content already loaded keeps
    serving, so a club's typo never takes the bot down.
    """

    def __init__(
        self,
        directory: Path | None,
        constants: Mapping[str, Any] | None = None,
        *,
        default_locale: str = "en",
        every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory or default_content_dir()
        self.constants = dict(constants or {})
        self.default_locale = default_locale
        self.every = every
        self.clock = clock
        # The default language loads now (a bot never starts on broken content); the others on
        # first use, which keeps start-up quick. `kneebot content check` checks them all.
        self._contents = {default_locale: load_content(self.directory, self.constants, default_locale)}
        self._stamp = self._fingerprint()
        self._checked = clock()

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        stamps = []
        folders = {folder for code in locales() for folder in layers(self.directory, code)}
        for folder in folders:
            for name in FILES:
                try:
                    stat = (folder / name).stat()
                except OSError:
                    continue
                stamps.append((str(folder / name), stat.st_mtime_ns, stat.st_size))
        return tuple(sorted(stamps))

    def pick(self, locale: str | None) -> str:
        """The language to use for a platform's locale (`es-ES` -> `es`), or the default."""
        code = (locale or "").replace("_", "-").split("-")[0].lower()
        if code in self._contents:
            return code
        if code in locales():
            try:
                self._contents[code] = load_content(self.directory, self.constants, code)
                return code
            except ContentError as exc:
                _log.error(
                    "the %r content cannot be loaded; answering in %r\n%s", code, self.default_locale, exc
                )
        return self.default_locale

    def current(self, locale: str | None = None) -> Content:
        now = self.clock()
        if now - self._checked >= self.every:
            self._checked = now
            stamp = self._fingerprint()
            if stamp != self._stamp:
                self._stamp = stamp
                self._reload()
        return self._contents[self.pick(locale)]

    def _reload(self) -> None:
        try:
            fresh = {code: load_content(self.directory, self.constants, code) for code in self._contents}
        except ContentError as exc:
            version = self._contents[self.default_locale].version
            _log.error("content changed but cannot be loaded; still serving version %s\n%s", version, exc)
            return
        self._contents = fresh
