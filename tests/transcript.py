"""Drive `kneebot chat --json`, the real entry point, the way a runner (or a script) would."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any

Message = dict[str, Any]
TIMEOUT = 20.0


def kneebot_command() -> list[str]:
    script = shutil.which("kneebot", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "bot"]


def faketime(clock: str | None) -> list[str]:
    """The command prefix that runs a process with its clock moved (`+4d`), by libfaketime;
    monotonic clocks are left alone, so timeouts and sleeps keep their length."""
    if clock is None:
        return []
    if shutil.which("faketime") is None:
        import pytest

        if os.environ.get("CI"):
            pytest.fail("libfaketime is missing in CI; .ci/run installs it with apt-get")
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    os.environ.setdefault("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    return ["faketime", "-f", clock]


class Bot:
    """One `kneebot chat --json` process, read line by line on a thread so a hang fails, not blocks."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.sent: list[Message] = []
        self.received: list[Message] = []
        threading.Thread(target=self._pump, daemon=True).start()

    @classmethod
    def start(cls, env: Mapping[str, str], clock: str | None = None) -> Bot:
        process = subprocess.Popen(
            [*faketime(clock), *kneebot_command(), "chat", "--json", "--user", "runner"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        return cls(process)

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def read_turn(self) -> list[Message]:
        """Messages until one waits for an answer (a kind) or carries an outcome.

        An outcome is followed on the wire by the answers summary, its own message, which also
        asks what comes after the outcome (the check-in offer, `check_in`; for urgent outcomes
        only `helpful`); it is read with the outcome's turn and put just before it, so `[-1]` is
        always the outcome and `[-2]` the summary with its question.
        """
        turn: list[Message] = []
        while True:
            message = self._next()
            turn.append(message)
            if message["kind"] is not None:
                return turn
            if message["outcome"] is not None:
                summary = self._next()
                assert summary["outcome"] is None, summary
                assert summary["text"].startswith(("**Your answers**", "**Tus respuestas**")), summary
                after = "helpful" if message["outcome"]["level"] == "urgent" else "check_in"
                assert (summary["fact"], summary["kind"]) == (after, "single"), summary
                assert [c["value"] for c in summary["choices"]] == ["yes", "no"], summary
                return [*turn[:-1], summary, message]

    def _next(self) -> Message:
        line = self.lines.get(timeout=TIMEOUT)
        if line is None:
            raise AssertionError(f"bot exited mid-turn; stderr: {self.stderr()}")
        message: Message = json.loads(line)
        assert set(message) == {"text", "fact", "kind", "choices", "outcome"}, message
        self.received.append(message)
        return message

    def send(self, message: Message | str) -> list[Message]:
        """Send one line (a dict as JSON, a str as it is) and read the bot's turn."""
        line = message if isinstance(message, str) else json.dumps(message)
        if not isinstance(message, str):
            self.sent.append(message)
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.read_turn()

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=TIMEOUT)

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def triage(bot: Bot, answers: Mapping[str, Any]) -> tuple[Message, list[str]]:
    """Run a whole triage: start, then answer whatever is asked from `answers`.

    Returns the outcome message and the facts asked, in order.
    """
    opening = bot.read_turn()[-1]
    assert opening["fact"] is None
    assert "start" in [choice["value"] for choice in opening["choices"]]
    message = bot.send({"value": "start"})[-1]
    asked: list[str] = []
    while message["outcome"] is None:
        fact = message["fact"]
        assert fact is not None, message
        assert fact in answers, f"asked {fact!r}, which this case does not answer (asked so far {asked})"
        assert fact not in asked, f"asked {fact!r} twice"
        asked.append(fact)
        answer = answers[fact]
        message = bot.send(answer if isinstance(answer, dict) else {"value": answer})[-1]
    return message, asked
