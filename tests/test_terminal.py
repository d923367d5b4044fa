"""`kneebot chat` for people, driven through a real pseudo-terminal: Ctrl-C, arrow keys, goodbye."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.transcript import Bot, kneebot_command

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class Terminal:
    """`kneebot chat` on a pty of its own, as a person's shell would start it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.process = subprocess.Popen(
            [*kneebot_command(), "chat", "--user", "runner"],
            stdin=slave, stdout=slave, stderr=slave, close_fds=True, start_new_session=True,
            env={**os.environ, "TERM": "xterm", **env},
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )  # fmt: skip
        os.close(slave)
        self.seen = b""

    def text(self) -> str:
        return _ANSI.sub(b"", self.seen).decode("utf-8", "replace")

    def expect(self, what: str, times: int = 1) -> None:
        """Read until `what` has been shown (so many times); the deadline only guards a hang."""
        deadline = time.monotonic() + 20
        while self.text().count(what) < times:
            assert time.monotonic() < deadline, f"never showed {what!r}; showed:\n{self.text()[-2000:]}"
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:  # the process has gone and the pty is closed
                    assert what in self.text(), f"exited without showing {what!r}:\n{self.text()[-2000:]}"

    def prompt(self) -> None:
        """Read until the bot waits at its `> ` prompt."""
        deadline = time.monotonic() + 20
        while not self.text().endswith("> "):
            assert time.monotonic() < deadline, f"no prompt; showed:\n{self.text()[-2000:]}"
            if select.select([self.master], [], [], 0.1)[0]:
                self.seen += os.read(self.master, 65536)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait(self) -> int:
        """The exit code, reading what is still shown meanwhile (a full pty would block it)."""
        deadline = time.monotonic() + 20
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"did not exit; showed:\n{self.text()[-2000:]}"
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break
        return self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    home = tmp_path / "home"
    home.mkdir()
    started = Terminal({"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}", "HOME": str(home)})
    yield started
    started.close()
    assert list(home.iterdir()) == [], "no history file: what a runner typed is not kept on disk"


def test_ctrl_c_at_a_question_leaves_at_once_and_keeps_the_answers(
    terminal: Terminal, tmp_path: Path
) -> None:
    terminal.expect("Start the knee check")
    terminal.type("1\r")
    terminal.expect("None of these")
    terminal.type("none\r")
    terminal.expect("How did the pain start?")
    terminal.type("\x03")  # Ctrl-C, as the terminal sends it: SIGINT to the process
    assert terminal.wait() == 130
    assert "keep your answers for 24 hours" in terminal.text()
    assert "Traceback" not in terminal.text()
    again = Bot.start({"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}"})
    try:
        assert "partway through" in again.read_turn()[-1]["text"], "the answers were kept"
    finally:
        again.stop()


def test_arrow_keys_recall_this_sessions_lines_and_edit_them(terminal: Terminal) -> None:
    terminal.expect("Start the knee check")
    terminal.type("?warmups\r")
    terminal.expect("wakes up the muscles")
    terminal.type("\x1b[A\r")  # Up, Enter: the same lookup again
    terminal.expect("wakes up the muscles", times=2)
    terminal.type("?armups" + "\x1b[D" * 6 + "w\r")  # Left six times, then the missing `w`
    terminal.expect("wakes up the muscles", times=3)
    terminal.prompt()
    terminal.type("\x04")  # Ctrl-D
    assert terminal.wait() == 0


def test_the_goodbye_after_forget_says_nothing_is_kept(tmp_path: Path) -> None:
    env = {**os.environ, "KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}", "COLUMNS": "200"}
    said = subprocess.run(
        [*kneebot_command(), "chat", "--user", "runner"],
        input="1\nnone\nforget\n", capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert said.returncode == 0, said.stderr
    assert "deleted everything" in said.stdout
    assert "keeping nothing about you" in said.stdout
    assert "so you can carry on later" not in said.stdout
    kept = subprocess.run(
        [*kneebot_command(), "chat", "--user", "runner"],
        input="1\nnone\n", capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert "keep your answers for 24 hours" in kept.stdout
