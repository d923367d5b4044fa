"""Free-text understanding: what a runner typed, turned into a fact value or a reason to re-ask.

It reads picks by number (`2`, `1, 3`), the options' words and synonyms with the filler words a
runner puts between them (`can't put ANY weight`), close misspellings, casual yes/no (`yep`,
`nah`, `dunno`), negation before or after a word (`no fever`, `calf isnt swollen`), and numbers
(`bot.numbers`). It knows what it does not know: a warning sign stated anywhere wins over the same
sign denied; a bare `no` or `none` next to words it cannot place is asked again; a reading of a
number that could be two things, or is unusual, is confirmed. Every word list is content
(language.yaml and the facts' synonyms); this module only knows the shapes.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple

from bot import numbers
from bot.content import ChoiceSpec, FactSpec
from bot.content import LanguageFile as Language
from bot.contract import FactContract
from bot.model import Answer, FactValue

__all__ = [
    "Misunderstood",
    "Understood",
    "names_option",
    "normalise",
    "read_distance_and_date",
    "understand",
    "understand_value",
]

MAX_TEXT = 2000


class Understood(NamedTuple):
    """A reading of an answer. (Named tuples, these two: one is built on every turn.)"""

    value: FactValue
    from_text: bool = False
    """True when the value was read from words, so the bot says back what it understood."""
    confirm: bool = False
    """The reading is unusual or could be two things: ask the runner before taking it."""


class Misunderstood(NamedTuple):
    reason: Literal["unclear", "out_of_range"]


Result = Understood | Misunderstood


_MILES_PER_KM = 0.621371
_LARGEST = 10**numbers.MAX_DIGITS


def normalise(text: str, decimal: str = "") -> str:
    """Lower-case, no apostrophes, no accents, no chat markup, punctuation as clause breaks.

    Between digits, `decimal` says which mark is the decimal point, the other grouping thousands:
    `,` for a number asked in a language that writes `6,5`, `.` where a number cannot run to
    thousands (a race in km). By default both group thousands before three digits (`1,200`,
    `1.200`) and a dot before fewer is a decimal (`6.5`)."""
    # Mention and link markup (`<@123>`, `<!channel>`, `<#C1|general>`) and a typed `@kneebot`
    # are noise, never an answer; so are Slack's `:emoji_codes:`.
    text = re.sub(r"<[@#!][^>]*>|(?<![\w])@\w+|:[a-z0-9_+\-]+:", " ", text[:MAX_TEXT])
    # Struck-through words (`~~8~~ 6`, Slack's `~8~`) are what the runner took back.
    text = re.sub(r"~~[^~]*~~|(?<![\w~])~[^~\s][^~]*~(?![\w~])", " ", text)
    text = text.replace("\u2019", "'").replace("`", "'")  # a curly apostrophe is still one
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    group = {",": r"\.", ".": ","}.get(decimal, "[,.]")
    # `1,200` (or `1.200`) is twelve hundred; `6.5` stays a decimal, and `1.200,5` is both.
    grouped = rf"(?<![\d.,])(\d{{1,3}})((?:{group}\d{{3}})+)(?!\d|{group}\d)"
    text = re.sub(grouped, lambda m: m[1] + re.sub(r"\D", "", m[2]), text)
    if decimal == ",":
        text = re.sub(r"(?<=\d),(?=\d)", ".", text)
    # A comma or full stop ends a clause: `no, it's locked` must not read as `not locked`.
    text = re.sub(r"[,;:!?.]+(?:\s+|$)", " and ", text)
    text = text.replace("'", "")
    text = re.sub(r"[^a-z0-9/.\-%]+", " ", text)
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
        direct = understand_value(spec, contract, value)
        if direct is not None:
            return direct
        text = " ".join(value) if isinstance(value, tuple) else str(value)
    if text is None:
        return Misunderstood("unclear")
    if not normalise(text):
        # An emoji on its own is an answer (👍 yes); next to words it is only a tone of voice.
        for symbol, word in language.emoji.items():
            text = text.replace(symbol, f" {word} ")
    # A language's decimal comma counts only where a number is asked (or a distance, as a
    # race's): `1,3` picks two choices. No race runs to thousands of km: `42.195` is a marathon.
    distance = any(choice.km for choice in spec.choices)
    if language.decimal_comma and (spec.kind == "number" or distance):
        decimal = ","
    else:
        decimal = "." if distance else ""
    said = normalise(text, decimal)
    if not said:
        return Misunderstood("unclear")
    if language.shorthand:
        said = " ".join(language.shorthand.get(word, word) for word in said.split())
    if any(said == q or said.startswith(q + " ") for q in map(normalise, language.question_words)):
        return Misunderstood("unclear")  # `what do you mean by catching` asks, it does not answer
    if spec.kind == "number":
        return _number(spec, contract, language, said, now, unit)
    read = _choices(spec, language, said, now, hedged=text.rstrip().endswith("?"))
    if isinstance(read, Understood) and _ironic(text, said, language):
        picked = set(read.value) if isinstance(read.value, list) else {read.value}
        if picked <= _phrases(spec.choices, language).careful:
            return Misunderstood("unclear")  # `oh yeah loads better 🙄`: said with an eye-roll
    return read


def understand_value(spec: FactSpec, contract: FactContract, value: Answer) -> Result | None:
    """A value picked from a button or sent as `{"value": ...}`; None to read it as text."""
    if spec.kind == "single":
        return Understood(value) if isinstance(value, str) and value in spec.values else None
    if spec.kind == "multi":
        picked = (value,) if isinstance(value, str) else value
        if isinstance(picked, tuple) and picked and spec.values.issuperset(picked):
            return Understood(list(picked) if len(picked) == 1 else _tidy_multi(spec, set(picked)))
        return None
    if value.__class__ is int and contract.low <= value <= contract.high:
        return Understood(value)  # a whole number in range, the usual pick, as it is
    if isinstance(value, bool):
        return Misunderstood("unclear")
    if isinstance(value, int | float):
        if value != value or abs(value) > _LARGEST:
            return Misunderstood("out_of_range")
        # Days and miles are whole numbers; a pain score may be 6.5.
        whole = spec.number is not None and spec.number.unit != "score"
        return _in_range(round(value) if whole else value, contract)
    if isinstance(value, str) and value in spec.values:
        return Understood(value)
    return None


def _in_range(
    number: float, contract: FactContract, from_text: bool = False, confirm: bool = False
) -> Result:
    if number != number or not contract.low <= number <= contract.high:
        return Misunderstood("out_of_range")
    whole = round(number)
    return Understood(whole if abs(number - whole) < 1e-9 else round(number, 1), from_text, confirm)


def _tidy_multi(spec: FactSpec, picked: set[str]) -> list[str]:
    """Order as the question lists them; `none` only when nothing else was picked, and an
    `unsure` beats a `none` (an unanswered red flag must never read as no red flag). A hedge
    beside a sign said (`maybe numb?`) adds nothing: the sign decides."""
    if len(picked) > 1:
        picked.discard("none")
    if len(picked) > 1:
        picked.discard("unsure")
    return [value for value in spec.ordered if value in picked]


# --- choices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Phrases:
    by_phrase: dict[str, str]
    """Each phrase, as typed and with its skip words dropped, and the choice it means."""
    pattern: re.Pattern[str]
    words: tuple[str, ...]
    """Single words of the options, the targets of typo correction."""
    known: frozenset[str]
    """Words that are never corrected into an option's word."""
    bare: frozenset[str]
    """The casual yes/no/unsure words (`no`, `nope`): a reading that rests on them alone is weak."""
    careful: frozenset[str]
    """The least cautious choices: read from a bare word only when nothing else was said."""
    unsure_words: frozenset[str]
    """The language's `not sure` words, as they read once normalised."""


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


def names_option(spec: FactSpec, language: Language, said: str) -> bool:
    """Whether a normalised text is, word for word, one of the question's own phrases for an
    option (`back` to *where is the pain?*)."""
    return bool(spec.choices) and said in _phrases(spec.choices, language).by_phrase


def phrases_of(choice: ChoiceSpec, language: Language) -> tuple[str, ...]:
    """Everything that names a choice: its value, label, synonyms and, for yes/no/unsure/none,
    the language's casual words."""
    vocab = {"yes": language.yes, "no": language.no, "unsure": language.unsure, "none": language.no}
    return (choice.value.replace("_", " "), choice.label, *choice.synonyms, *vocab.get(choice.value, ()))


def squeeze(phrase: str, language: Language) -> str:
    """A phrase without its skip words (`can't put any weight` -> `cant put weight`)."""
    return " ".join(word for word in phrase.split() if word not in language.skip_words)


def _build_phrases(choices: tuple[ChoiceSpec, ...], language: Language) -> _Phrases:
    vocab = {*language.yes, *language.no, *language.unsure}
    by_phrase: dict[str, str] = {}
    patterns: dict[str, str] = {}
    bare: set[str] = set()
    skip = "|".join(sorted(map(re.escape, language.skip_words), key=len, reverse=True))
    gap = rf"(?:\s+(?:{skip}))*\s+" if skip else r"\s+"
    for choice in choices:
        for phrase in phrases_of(choice, language):
            said = normalise(phrase)
            if not said:
                continue
            if phrase in vocab:
                bare.add(said)
            by_phrase.setdefault(said, choice.value)
            core = squeeze(said, language)
            # A phrase squeezed to nothing, or to one word it does not list (`bit by bit` -> `by`),
            # is matched only as written.
            if core and (len(core.split()) > 1 or core == said):
                by_phrase.setdefault(core, choice.value)
                patterns.setdefault(core, gap.join(map(re.escape, core.split())))
            patterns.setdefault(said, gap.join(map(re.escape, said.split())))
    ordered = sorted(patterns, key=lambda p: (len(p.split()), len(p)), reverse=True)
    alternation = "|".join(patterns[p] for p in ordered)
    pattern = re.compile(rf"(?<![\w])({alternation})(?![\w])")
    words = {w for phrase in by_phrase for w in phrase.split()}
    known = (
        words
        | set(language.filler)
        | set(language.common)
        | language.negators
        | language.skip_words
        | language.clause_breaks
        | set(language.number_words)
        | set(language.duration_units)
        | set(language.distance_units)
        | set(language.months)
        | set(language.weekdays)
    )
    targets = tuple(sorted(w for w in words if len(w) > 3 and not w.isdigit()))
    careful = frozenset(choice.value for choice in choices if choice.careful)
    unsure = frozenset(normalise(word) for word in language.unsure)
    return _Phrases(by_phrase, pattern, targets, frozenset(known), frozenset(bare), careful, unsure)


@dataclass
class _Scan:
    stated: dict[str, bool]
    """Each choice said and not denied, with whether a bare yes/no word was all that said it."""
    denied: set[str]
    leftover: list[str]
    contradicted: set[str] = field(default_factory=set)
    """Choices both said and denied."""
    mostly: set[str] = field(default_factory=set)
    """Choices said right after `mostly`."""


def _choices(spec: FactSpec, language: Language, text: str, now: datetime, hedged: bool = False) -> Result:
    if spec.kind == "single":
        corrected = numbers.after_correction(text, language)
        if corrected != text:
            # `the half, no wait, the full`: the answer after the correction, unless it is a least
            # cautious one (`twisted it, no wait, it crept up`), which is never taken over another.
            fixed = _choices(spec, language, corrected, now, hedged)
            if isinstance(fixed, Understood) and fixed.value not in _phrases(spec.choices, language).careful:
                return fixed
    values = [choice.value for choice in spec.choices]
    picks = _by_index(text, len(values), language)
    if picks is not None:
        chosen = {values[i] for i in picks}
        if spec.kind == "single" and len(chosen) != 1:
            return Misunderstood("unclear")
        return Understood(_pack(spec, chosen), from_text=True)

    phrases = _phrases(spec.choices, language)
    if text in phrases.unsure_words and "unsure" not in values and text not in phrases.by_phrase:
        return Misunderstood("unclear")  # `dunno` to a question that has no "not sure" option
    text = _correct(text, phrases)
    banded = [choice for choice in spec.choices if choice.numbers]
    aged: set[str] = set()
    if banded:
        said_ages = numbers.ages(text, language, now.date())
        for low, high in said_ages:
            bands = {c.value for c in banded if c.numbers and not (high < c.numbers[0] or low > c.numbers[1])}
            if len(bands) != 1:
                return Misunderstood("unclear")  # `mid 50s`, `around 55`: could be either side
            aged |= bands
        if len(aged) > 1:
            return Misunderstood("unclear")
        if said_ages:
            text = re.sub(r"\d+", " ", text)

    text = _without_painless(spec, language, text)
    scan = _scan(text, phrases, language, listing=spec.kind == "multi")
    stated = set(scan.stated) | aged
    if not stated:
        measured = _race_distance(spec, language, text)
        if measured is not None:
            return measured
    if not stated and not scan.denied and " " not in text:
        close = difflib.get_close_matches(text, list(phrases.by_phrase), n=1, cutoff=0.75)
        if close:
            stated.add(phrases.by_phrase[close[0]])
            scan.leftover = []

    if spec.kind == "single":
        if not stated and scan.denied == {"yes"} and "no" in values:
            stated = {"no"}  # `didnt swell`, `not very sore`: a denied yes is a no
        if not stated and len(scan.denied) == 1 and len(values) == 2:
            stated = set(values) - scan.denied  # `no pop, no twist`: the other way it began
        if len(stated) > 1 and all(scan.stated.get(v) for v in stated):
            return Misunderstood("unclear")  # `yes and no`: nothing to go on but two bare words
        if len(stated) > 1 and phrases.careful:
            # Two answers at once where one could lower the level: never guess down. `niggling,
            # then I twisted it` is an injury; `maybe a slight limp?` is a limp; `not sure, maybe
            # no` is not sure.
            stated -= phrases.careful
            if len(stated) > 1:
                stated.discard("unsure")
        if len(stated) > 1 and scan.mostly & stated and len(scan.mostly & stated) == 1:
            stated = scan.mostly & stated  # `mostly front, a bit inside`
        if len(stated) != 1:
            return Misunderstood("unclear")
        (value,) = stated
        if value in phrases.careful and scan.stated.get(value) and (scan.leftover or hedged):
            # `no puedo doblarla`: a `no` about something else; `dont think so?`: not sure at all.
            return Misunderstood("unclear")
        if value in scan.contradicted and value in phrases.careful:
            return Misunderstood("unclear")  # `no, but also no to that`: said and unsaid
        return Understood(value, from_text=True)

    if stated <= {"none"} and "none" in scan.denied | scan.contradicted:
        return Misunderstood("unclear")  # `not fine`, `no estoy bien`, `no no, not fine`
    if not stated and scan.denied and "none" in values:
        stated = {"none"}
    if not stated or (stated <= {"none"} and scan.leftover):
        # "none" next to words we could not place might hide something we should know.
        return Misunderstood("unclear")
    return Understood(_tidy_multi(spec, stated), from_text=True)


def _without_painless(spec: FactSpec, language: Language, text: str) -> str:
    """`clicks loads but no pain`: painless clicking is not catching. Drops the synonyms that need
    pain when the message says it does not hurt and names no pain anywhere."""
    if not any(choice.needs_pain for choice in spec.choices):
        return text
    if not any(numbers.has(text, p) for p in language.painless):
        return text
    if any(numbers.has(_strip(text, language.painless), p) for p in language.painful):
        return text
    for choice in spec.choices:
        for word in choice.needs_pain:
            text = numbers.drop(text, word)
    return " ".join(text.split())


def _strip(text: str, phrases: tuple[str, ...]) -> str:
    for phrase in phrases:
        text = numbers.drop(text, phrase)
    return text


def _race_distance(spec: FactSpec, language: Language, text: str) -> Result | None:
    """`a 15k`, `20 miles`, `5 km`: the choice whose range of kilometres holds every distance
    said, the narrowest where ranges nest. None when the choices have no ranges or none is said."""
    ranged = [choice for choice in spec.choices if choice.km]
    if not ranged or not re.search(r"\d", text):
        return None  # `the big one` names no distance
    tokens = numbers.tokens_of(text, language)
    said = [
        miles / _MILES_PER_KM
        for i, token in enumerate(tokens)
        if numbers.is_num(token)
        and (miles := numbers.distance(tokens[i : i + 3], language, "km")) is not None
        and miles > 0
    ]
    if not said:
        return None
    picked: set[str] = set()
    for km in said:
        holding = [c for c in ranged if c.km and c.km[0] <= km <= c.km[1]]
        if not holding:
            return Misunderstood("unclear")
        picked.add(min(holding, key=lambda c: c.km[1] - c.km[0] if c.km else 0).value)
    return Understood(picked.pop(), from_text=True) if len(picked) == 1 else Misunderstood("unclear")


def _correct(text: str, phrases: _Phrases) -> str:
    """Mend close misspellings of the options' words (`numbb`, `swolen`, `treadmil`).

    A typo rarely changes the first letter; requiring it keeps `hills` from reading as `chills`.
    """
    out = []
    for word in text.split():
        if word not in phrases.known and word.endswith("s") and word[:-1] in phrases.known:
            word = word[:-1]  # `hips`, `calfs`
        if len(word) > 3 and word not in phrases.known and not any(c.isdigit() for c in word):
            close = difflib.get_close_matches(word, [w for w in phrases.words if w[0] == word[0]], 1, 0.8)
            if close:
                word = close[0]
        out.append(word)
    return " ".join(out)


def _pack(spec: FactSpec, chosen: set[str]) -> FactValue:
    return _tidy_multi(spec, chosen) if spec.kind == "multi" else next(iter(chosen))


def _by_index(text: str, count: int, language: Language) -> list[int] | None:
    """`2`, `1, 3`, `4 and 5`, `1 y 3`: options picked by their place in the list."""
    joiners = "|".join(map(re.escape, (",", "&", "and", *language.plus_words)))
    if not re.fullmatch(rf"\d{{1,2}}(?:\s*(?:{joiners}|\s)\s*\d{{1,2}})*", text):
        return None
    picks = [int(n) - 1 for n in re.findall(r"\d+", text)]
    return picks if all(0 <= i < count for i in picks) else None


def _scan(text: str, phrases: _Phrases, language: Language, listing: bool = False) -> _Scan:
    """Find the choices a sentence states, those it only denies, and the words left unexplained.

    A negator denies the nearest option in its clause: the one after it (`no fever`, `not numb`)
    or, with none after it, the one before it (`calf isnt swollen`). A `no` that is an answer in
    itself (`no, nothing`) denies what follows it in the clause too. In a list (`listing`), where
    a `none` can lower the level, a casual `no` right before a word it negates is no answer.
    """
    words = text.split()
    starts = [m.start() for m in re.finditer(r"\S+", text)]
    matches = [
        (m.start(), m.end(), phrases.by_phrase.get(m[1]) or _lookup(m[1], phrases, language))
        for m in phrases.pattern.finditer(text)
    ]
    covered = [False] * len(words)
    spans = []
    for start, end, value in matches:
        first = starts.index(start)
        last = max(i for i, s in enumerate(starts) if s < end)
        spans.append((first, last, value))
    # `normalise` writes every comma and full stop as `and`, whatever the language.
    breaks = [i for i, w in enumerate(words) if w in language.clause_breaks or w == "and"]

    def clause(i: int) -> int:
        return sum(1 for b in breaks if b < i)

    negative = {"no", "none"}
    negators: list[int] = []
    fine: list[int] = []
    for k in range(len(spans) - 1, 0, -1):
        first, last, value = spans[k]
        said = " ".join(words[first : last + 1])
        if (
            value in negative
            and first == last
            and (said in language.negators or said in language.fine_words)
            and spans[k - 1][2] not in negative
            and clause(spans[k - 1][1]) == clause(first)
        ):
            # `la pantorrilla no esta hinchada`, `calf is fine`: after an option, a `no` or a
            # `fine` is about that option, not an answer of its own.
            (negators if said in language.negators else fine).append(first)
            del spans[k]
    negated: list[str] = []
    """Words a casual `no` negates that the list does not name: left unexplained."""

    def fine_words_in(span: tuple[int, int, str]) -> bool:
        return any(word in language.fine_words for word in words[span[0] : span[1] + 1])

    if listing:
        answers = set(language.filler) | language.negators | set(language.fine_words) | language.clause_breaks
        casual_nos = phrases.bare & language.negators
        for k in range(len(spans) - 1, -1, -1):
            first, last, value = spans[k]
            if value not in negative or first != last or words[first] not in casual_nos:
                continue
            then = next((span for span in spans if span[0] == last + 1), None)
            following = words[last + 1] if last + 1 < len(words) else "and"
            if then is None and following not in answers and following != "and":
                negated.append(following)  # `no corro desde el lunes`: says nothing about the list
            elif then is None or then[2] != "none" or not fine_words_in(then):
                continue
            # (`no estoy bien`, `not fine`: a `none` denied is no answer either)
            negators.append(first)
            del spans[k]
    for first, last, _ in spans:
        for i in range(first, last + 1):
            covered[i] = True
    breaks = [i for i in breaks if not covered[i]]
    negators += [
        i for i, w in enumerate(words) if w in language.negators and not covered[i] and i not in negators
    ]
    fine += [i for i, w in enumerate(words) if w in language.fine_words and not covered[i] and i not in fine]

    denied_at: set[int] = set()
    for n in negators:
        after = [k for k, (first, _, _) in enumerate(spans) if first > n and clause(first) == clause(n)]
        if after and spans[after[0]][0] - n <= 4:
            denied_at.add(after[0])
            continue
        before = [k for k, (_, last, _) in enumerate(spans) if last < n and clause(last) == clause(n)]
        if before and _negative(words[spans[before[-1]][0] : spans[before[-1]][1] + 1], language):
            # `no puedo doblarla ni a 90`, `cant put weight through it without it folding`: a
            # second negation stresses the first
            continue
        if before and n - spans[before[-1]][1] <= 3:
            denied_at.add(before[-1])
            # `calf isnt swollen`: the words the denial is about are explained by it.
            for i in range(n + 1, min(n + 3, len(words))):
                if words[i] in language.clause_breaks:
                    break
                covered[i] = True
    for f in fine:
        before = [
            k
            for k, (_, last, value) in enumerate(spans)
            if last < f and clause(last) == clause(f) and value not in negative
        ]
        covered[f] = True
        if before and f - spans[before[-1]][1] <= 3:
            denied_at.add(before[-1])
            continue
        # `foot feels normal`: the words the reassurance is about are explained by it.
        for i in range(f - 1, max(-1, f - 4), -1):
            if words[i] in language.clause_breaks or covered[i]:
                break
            covered[i] = True
    for k, (first, _, value) in enumerate(spans):
        if value in negative or k == 0:
            continue
        prev_first, prev_last, prev_value = spans[k - 1]
        between = words[prev_last + 1 : first]
        if (
            (k - 1 in denied_at or prev_value in negative)
            and between
            and all(w in language.denial_lists for w in between)
        ):
            denied_at.add(k)  # `no fever or chills`, `ni fiebre ni escalofrios`
            continue
        if (
            prev_value in negative
            and " ".join(words[prev_first : prev_last + 1]) in phrases.bare
            and clause(first) == clause(prev_last)
            and len(between) <= 3
            and not _negative(words[first : spans[k][1] + 1], language)
        ):
            denied_at.add(k)  # `no fever`, `nothing looks weird`; not `no, I cant walk`
    stated: dict[str, bool] = {}
    denied: set[str] = set()
    for k, (first, last, value) in enumerate(spans):
        if k in denied_at and value not in ("unsure",):
            denied.add(value)
            continue
        bare = " ".join(words[first : last + 1]) in phrases.bare
        stated[value] = stated.get(value, True) and bare
    ignore = set(language.filler) | set(language.common) | language.negators | language.skip_words
    ignore |= language.clause_breaks | {"and"}
    mostly = {
        value
        for first, _, value in spans
        if any(w in language.mostly for w in words[max(0, first - 2) : first])
    }
    leftover = [w for i, w in enumerate(words) if not covered[i] and w not in ignore and not w.isdigit()]
    leftover += negated
    return _Scan(stated, denied - set(stated), leftover, denied & set(stated), mostly)


def _ironic(text: str, said: str, language: Language) -> bool:
    """An irony marker in the message: an emoji as typed, words as they read once normalised."""
    marks = ((marker, normalise(marker)) for marker in language.irony)
    return any(numbers.has(said, words) if words else marker in text for marker, words in marks)


def _negative(words: list[str], language: Language) -> bool:
    """An option said in the negative itself (`cant walk`, `no puedo apoyar`), which a `no`
    before it agrees with rather than denies."""
    return any(word in language.negators or word in language.cannot for word in words)


def _lookup(said: str, phrases: _Phrases, language: Language) -> str:
    """The choice of a phrase matched with filler words inside it."""
    squeezed = squeeze(said, language)
    return phrases.by_phrase.get(squeezed) or phrases.by_phrase[" ".join(said.split())]


# --- numbers -----------------------------------------------------------------------------------


def _number(
    spec: FactSpec, contract: FactContract, language: Language, text: str, now: datetime, unit: str
) -> Result:
    assert spec.number is not None
    kind = spec.number.unit
    if len(re.sub(r"\D", "", text)) > 4 * numbers.MAX_DIGITS:
        return Misunderstood("out_of_range")
    if spec.choices:
        special = _phrases(spec.choices, language)
        if normalise(text) in special.by_phrase or squeeze(text, language) in special.by_phrase:
            return Understood(special.by_phrase.get(text) or special.by_phrase[squeeze(text, language)], True)
    text = numbers.after_correction(text, language)
    if spec.number.weekly:  # the question asks for a usual week
        text = numbers.usual_part(text, language)
    number: float | None = None
    sure = True
    if kind in ("days_ago", "days_ahead"):
        span = numbers.days(text, language, now, ahead=kind == "days_ahead")
        if span is not None:
            number, sure = span.value, span.sure
    else:
        scored = text if kind == "miles" else numbers.without_scale(text, language)
        tokens = numbers.tokens_of(scored, language)
        if any(_long(t) for t in tokens):
            return Misunderstood("out_of_range")
        if kind == "miles":
            miles = numbers.distance(tokens, language, unit, weekly=spec.number.weekly, said=text)
            number = None if miles is None else float(round(miles))
        else:
            number = numbers.score(tokens, language)
    if number is None:
        number = _number_words(spec, text)
    if number is not None:
        unusual = any(low <= number <= high for low, high in spec.number.confirm)
        return _in_range(number, contract, from_text=True, confirm=unusual or not sure)
    if spec.choices:
        special_read = _choices(spec.model_copy(update={"kind": "single"}), language, text, now)
        if isinstance(special_read, Understood):
            return special_read
    return Misunderstood("unclear")


def _long(token: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(?:\.\d+)?", token)) and not numbers.is_num(token)


def _number_words(spec: FactSpec, text: str) -> float | None:
    """Words for a number on this question (`mild` 3, `brand new` 0): the highest said."""
    assert spec.number is not None
    found: list[float] = []
    for phrase, value in sorted(spec.number.words.items(), key=lambda kv: -len(kv[0])):
        said = normalise(phrase)
        pattern = r"(?<![\w])" + re.escape(said) + r"(?![\w])"
        if re.search(pattern, text):
            found.append(value)
            text = re.sub(pattern, " ", text)
    return max(found) if found else None


def read_distance_and_date(
    text: str, language: Language, *, now: datetime, unit: str
) -> tuple[float | None, int | None]:
    """A weekly distance (in miles) and the days until a date, from `40 mi 2026-12-13`,
    `64km in 12 days` or `forty next saturday`."""
    return numbers.read_distance_and_date(normalise(text), language, now=now, unit=unit)
