"""The terminal adapter: `kneebot chat` for people, `kneebot chat --json` for scripts and tests.

JSON lines mode (the transcript protocol of design.md): one JSON object per line in on stdin
(`{"text": ...}`, `{"value": ...}`, `{"command": "restart"}`), one object per bot message out.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import math
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TextIO

from bot.conversations import Conversations
from bot.model import Answer, ConversationKey, Event, Reply

__all__ = ["event_from_json", "reply_to_json", "run_chat"]

_QUIT = {"quit", "exit", "bye", ":q"}
_COMMANDS = {"restart", "forget", "back", "data"}


def _now() -> datetime:
    return datetime.now().astimezone()


def event_from_json(line: str, at: datetime) -> Event:
    """One line of the transcript protocol as an Event; anything unreadable says so."""
    try:
        message = json.loads(line)
    except ValueError:
        return Event("unreadable", at)
    if not isinstance(message, dict):
        return Event("unreadable", at)
    fact = message.get("fact") if isinstance(message.get("fact"), str) else None
    if "command" in message:
        command = message["command"]
        if command in _COMMANDS:
            return Event(command, at)
        if command == "start":
            return Event("answer", at, value="start")
        return Event("unreadable", at)
    if "value" in message:
        value = _value(message["value"])
        return Event("answer", at, value=value, fact=fact) if value is not None else Event("unreadable", at)
    if isinstance(message.get("text"), str):
        text = message["text"]
        if text.lstrip().startswith("?"):
            return Event("lookup", at, text=text.strip().lstrip("?").strip())
        return Event("text", at, text=text, fact=fact)
    return Event("unreadable", at)


def _typed(line: str) -> Event:
    """A line typed by a person: `?topic [args]` looks a topic up, anything else is an answer."""
    if line.lstrip().startswith("?"):
        return Event("lookup", _now(), text=line.strip().lstrip("?").strip())
    return Event("text", _now(), text=line)


def _value(raw: Any) -> Answer | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        return None  # `1e999` reads as infinity: no answer anyone meant
    if isinstance(raw, str | int | float):
        return raw
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return tuple(raw)
    return None


def reply_to_json(reply: Reply) -> dict[str, Any]:
    question = reply.question
    outcome = reply.outcome
    return {
        "text": reply.text,
        "fact": question.fact if question else None,
        "kind": question.kind if question else None,
        "choices": [{"value": c.value, "label": c.label} for c in question.choices] if question else [],
        "outcome": None
        if outcome is None
        else {
            "level": outcome.level,
            "rule": outcome.rule,
            "advice": list(outcome.advice),
            "text": outcome.text,
        },
    }


async def run_chat(
    service: Conversations, *, json_mode: bool, user: str | None = None, locale: str | None = None
) -> int:
    """Chat on stdin/stdout until end of input (or `quit` for people)."""
    key = ConversationKey("terminal", "local", user or getpass.getuser())
    if json_mode:
        return await _chat(service, key, locale, _JsonOut(sys.stdout).show, _read_json_line)
    _line_editing()
    ctrl_c = _CtrlC()
    previous = signal.signal(signal.SIGINT, ctrl_c)
    try:
        return await _chat(service, key, locale, _RichOut().show, ctrl_c.ask)
    except KeyboardInterrupt:
        _RichOut().note(await _goodbye(service, key, locale))
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)


async def _chat(
    service: Conversations,
    key: ConversationKey,
    locale: str | None,
    show: Callable[[Reply], None],
    read: Callable[[], Awaitable[str | None]],
) -> int:
    json_mode = read is _read_json_line
    for reply in await service.handle(key, Event("start", _now(), locale=locale)):
        show(reply)
    while True:
        line = await read()
        if line is None or (not json_mode and line.strip().lower() in _QUIT):
            if not json_mode:
                _RichOut().note(await _goodbye(service, key, locale))
            return 0
        if not line.strip():
            continue
        event = event_from_json(line, _now()) if json_mode else _typed(line)
        event = replace(event, locale=locale)
        for reply in await service.handle(key, event):
            show(reply)


async def _goodbye(service: Conversations, key: ConversationKey, locale: str | None) -> str:
    """Says answers are kept only when they are (not after `forget`, nor before a first answer)."""
    try:
        kept = await service.store.get(str(key)) is not None
    except Exception:
        kept = True  # the store cannot say: promise nothing was deleted
    return service.message("goodbye" if kept else "goodbye_nothing_kept", locale=locale)


def _line_editing() -> None:
    """Arrow keys, editing and this session's history (GNU readline where Python has it). No
    history file is written: what a runner typed is never kept on disk."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (importing it is what turns line editing on for input())


class _CtrlC:
    """Ctrl-C for a person at the terminal. While they type, it leaves at once: the line is read
    on this thread, which the interrupt wakes (asyncio's own handler only cancels the task, which
    a blocking read never notices). While the bot works on a turn, it leaves once that turn is
    saved: an interrupt raised anywhere could leave the store's thread locks held, and the goodbye
    would wait on them for ever. A second Ctrl-C leaves at once all the same."""

    def __init__(self) -> None:
        self.pressed = False
        self.reading = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.reading or self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    async def ask(self) -> str | None:
        """One line from the person; None at the end of input."""
        self.reading = True  # before the check: a Ctrl-C from here on interrupts the read itself
        try:
            if self.pressed:
                raise KeyboardInterrupt
            return input("> ")
        except EOFError:
            return None
        finally:
            self.reading = False


async def _read_json_line() -> str | None:
    line = await asyncio.to_thread(sys.stdin.readline)
    return line if line else None


class _JsonOut:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def show(self, reply: Reply) -> None:
        self.stream.write(json.dumps(reply_to_json(reply), ensure_ascii=False) + "\n")
        self.stream.flush()


class _RichOut:
    """People's terminal. Rich is imported here, so scripts in JSON mode start without it."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(highlight=False)

    def note(self, text: str) -> None:
        from rich.markdown import Markdown

        self.console.print(Markdown(text), style="dim")

    def show(self, reply: Reply) -> None:
        style = {"urgent": "red", "see_professional": "yellow", "self_care": "green"}
        from rich.markdown import Markdown
        from rich.panel import Panel

        border = style[reply.outcome.level] if reply.outcome else "cyan"
        self.console.print(Panel(Markdown(reply.text), border_style=border, title="kneebot"))
        question = reply.question
        if question is None:
            return
        if question.kind == "number":
            words = "".join(f" · [bold]{c.value}[/] ({c.label})" for c in question.choices)
            self.console.print(f"  [dim]{question.control('type_below')}[/]{words}")
            return
        for number, choice in enumerate(question.choices, start=1):
            self.console.print(f"  [bold cyan]{number}[/]. {choice.label}", markup=True)
        if question.kind == "multi":
            self.console.print(f"  [dim]{question.control('pick_all')} (1, 3 …)[/]")
