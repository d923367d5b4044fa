"""The one vocabulary between the core and the adapters: events in, replies out, and state.

An adapter turns a platform event into an `Event`, hands it to the conversations service with a
`ConversationKey`, and renders the `Reply` objects it gets back in its platform's idiom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, TypeAdapter

from bot.contract import Kind, Level

__all__ = [
    "Answer",
    "Choice",
    "ConversationKey",
    "Event",
    "EventKind",
    "FactValue",
    "Outcome",
    "Question",
    "Reply",
    "State",
]

EventKind = Literal[
    "start", "answer", "text", "lookup", "restart", "forget", "back", "unreadable", "data", "check_in"
]
Answer = str | int | float | tuple[str, ...]
FactValue = str | int | float | list[str]


@dataclass(frozen=True)
class Event:
    """Something a runner did.

    - `start`: opened the bot (a slash command, a DM, the terminal starting).
    - `answer`: picked a value (a button, a menu, `{"value": ...}`); `fact` names the question
      it answers when the platform knows it, so a stale click cannot answer a newer question.
    - `text`: typed something.
    - `lookup`: asked for a topic; `text` is the topic and any arguments (`taper 40`).
    - `restart`, `forget`: the commands of the same name.
    - `back`: take back the last answer and ask that question again.
    - `unreadable`: sent something the adapter could not read at all (bad JSON, an attachment).
    - `data`: asked what the bot keeps about them (`mydata`).
    - `check_in`: a check-in the runner accepted may be due (the adapters' delivery loop, or the
      terminal starting); the engine asks it only if it is.
    """

    kind: EventKind
    at: datetime
    id: str | None = None
    value: Answer | None = None
    text: str | None = None
    fact: str | None = None
    locale: str | None = None
    """The runner's language as their platform says it (`es-ES`), when it does."""


@dataclass(frozen=True)
class ConversationKey:
    """One runner, one triage: whichever channel they started it from."""

    platform: str
    workspace: str
    user: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.user}"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Question:
    """What the runner is asked. `fact` is None for the bot's own prompts (start, resume)."""

    fact: str | None
    kind: Kind
    choices: tuple[Choice, ...] = ()
    controls: tuple[tuple[str, str], ...] = ()
    """Words for the controls around it, from the content: `done`, `type_answer`, `type_below`,
    `pick_all`, and `back` when there is an answer to take back. Adapters use them on buttons and
    menus instead of words of their own."""

    def control(self, name: str) -> str:
        return dict(self.controls).get(name, "")


@dataclass(frozen=True)
class Outcome:
    level: Level
    rule: str
    advice: tuple[str, ...]
    """Advice sections, each a short markdown text starting with its bold title."""
    text: str
    """The outcome message: headline, why, what to do, the advice shown, the professional prompt.
    The answers summary follows as a reply of its own."""
    summary: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Reply:
    """One bot message, in a small markdown subset: **bold**, _italics_, `- ` bullets, links."""

    text: str
    question: Question | None = None
    outcome: Outcome | None = None
    accepted: bool = False
    """The event before this reply was taken as an answer (or a start/resume pick): an adapter
    may now show the question it answered as settled, e.g. by editing the clicked message."""


@dataclass(frozen=True)
class State:
    """A conversation in progress, stored as compact JSON between events.

    Holds facts, never anything a runner typed. A plain frozen dataclass, so that the engine's
    one copy per turn (`evolve`) costs a dict copy; pydantic checks it on the way in from a
    store (`from_json`) and writes it out (`to_json`), as it would a model.
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="ignore")

    facts: dict[str, FactValue] = field(default_factory=dict)
    asking: str | None = None
    """The fact being asked; None once the triage has an outcome."""
    paused: bool = False
    """The runner came back and was asked whether to carry on or start over."""
    pending: FactValue | None = None
    """A reading of the question's answer that waits for the runner to confirm it."""
    rule: str | None = None
    """The rule that decided the outcome, once there is one."""
    content: str = ""
    locale: str = ""
    """The language the check runs in, fixed when it starts."""
    started: float = 0.0
    updated: float = 0.0
    after: str | None = None
    """After the outcome: the question waiting for an answer (`check_in`, `check_in_progress`,
    `helpful`), if any."""
    due: float | None = None
    """When the check-in the runner accepted is due (a Unix time)."""
    check_ins: int = 0
    """How many check-ins the runner has answered for this triage."""
    progress: str | None = None
    """The answer to the last check-in (`better`, `same`, `worse`)."""
    floor: str | None = None
    """The check-in rule whose level is the least this triage may end at (after `worse`)."""
    helped: bool = False
    """The runner has said whether the outcome was helpful."""
    kept_until: float = 0.0
    """When the store deletes this conversation, as of its last save."""
    club: str = ""
    """The club (`discord:<server>`) whose settings and numbers the check keeps, once it has
    moved away from it (a check-in asked in the runner's DM); empty where it is kept."""

    @property
    def finished(self) -> bool:
        return self.rule is not None

    def evolve(self, changes: Mapping[str, Any] | None = None, /, **more: Any) -> State:
        """A copy with some fields changed, given as a mapping or by name (the values are not
        checked again: they are the engine's own)."""
        kept = self.__dict__.copy()
        if changes:
            kept.update(changes)
        if more:
            kept.update(more)
        if len(kept) != len(_STATE_FIELDS):  # a name that is not a field was added
            raise TypeError(f"State has no field {sorted(kept.keys() - _STATE_FIELDS)[0]!r}")
        copied = object.__new__(State)
        _set(copied, "__dict__", kept)  # a frozen dataclass's own way round its __setattr__
        return copied

    def to_json(self) -> str:
        """Compact JSON, leaving out what is at its default."""
        return _state_json().dump_json(self, exclude_defaults=True).decode()

    @staticmethod
    def from_json(data: str | bytes) -> State:
        """A stored state, checked. Raises pydantic's ValidationError."""
        return _state_json().validate_json(data)


_STATE_FIELDS = frozenset(item.name for item in fields(State))
_set = object.__setattr__


@cache
def _state_json() -> TypeAdapter[State]:
    """pydantic's reader and writer for State, built on first use: not before a bot listens."""
    return TypeAdapter(State)
