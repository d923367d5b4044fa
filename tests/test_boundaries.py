"""House rules: the core imports no platform SDK, logs hold no runner text, bad settings fail clearly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.transcript import Bot, kneebot_command

ROOT = Path(__file__).resolve().parent.parent


def test_the_core_imports_no_platform_sdk() -> None:
    code = (
        "import sys, bot, bot.cli, bot.engine, bot.conversations, bot.stores.sqlite, bot.stores.memory\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'slack_bolt', 'slack_sdk', 'discord'})\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""


def test_adapters_hold_no_triage_text() -> None:
    rules = ["U1", "U2", "P0", "red_flags", "physiotherapist", "emergency"]
    for path in (ROOT / "adapters").glob("*.py"):
        source = path.read_text()
        for word in rules:
            assert word not in source, f"{path.name} mentions {word!r}"


def test_nothing_a_runner_types_reaches_the_logs_or_the_store(
    bot: Callable[..., Bot], tmp_path: Path
) -> None:
    phrase = "quokka-7731"
    db = tmp_path / "kneebot.db"
    runner = bot(KNEEBOT_STORE=f"sqlite:///{db}", KNEEBOT_LOG_LEVEL="DEBUG")
    runner.read_turn()
    runner.send({"text": f"start {phrase}"})
    answers = ["none", f"gradually {phrase}", "10 days", "40", "none", "4", f"front {phrase}"]
    for text in [*answers, "hills", "road", "200", f"no race {phrase}"]:
        asked = runner.send({"text": phrase})[-1]["fact"]  # not understood: asked again
        assert runner.send({"text": text})[-1]["fact"] != asked
    assert runner.close() == 0
    assert runner.received[-2]["outcome"] is not None, runner.received[-2]["text"]
    assert runner.received[-1]["text"].startswith("**Your answers**"), "then the answers summary"
    logs = runner.stderr()
    assert "triage outcome level=" in logs, "the outcome is logged"
    assert phrase not in logs
    for file in tmp_path.glob("kneebot.db*"):
        assert phrase.encode() not in file.read_bytes()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KNEEBOT_RETENTION_HOURS", "forever"),
        ("KNEEBOT_RETENTION_HOURS", "-1"),
        ("KNEEBOT_DISTANCE_UNIT", "furlongs"),
        ("KNEEBOT_LOG_LEVEL", "LOUD"),
        ("KNEEBOT_STORE", "postgres://db/kneebot"),
    ],
)
def test_a_bad_setting_names_the_variable(name: str, value: str) -> None:
    result = subprocess.run(
        [*kneebot_command(), "chat", "--json"],
        capture_output=True,
        text=True,
        input="",
        timeout=30,
        env={**os.environ, name: value},
    )
    assert result.returncode == 2
    assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_settings_are_read_from_a_dot_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KNEEBOT_STORE=memory://\nKNEEBOT_EMERGENCY_NUMBER=000\n")
    result = subprocess.run(
        [*kneebot_command(), "chat", "--json"],
        capture_output=True,
        text=True,
        input='{"value": "start"}\n{"value": ["locked"]}\n',
        timeout=30,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert "call 000" in result.stdout


def test_env_example_lists_exactly_what_config_reads() -> None:
    from bot.config import Settings

    listed = {
        line.lstrip("# ").split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"#? ?[A-Z][A-Z_]+=", line)
    }
    read = {Settings.env_name(name) for name in Settings.model_fields}
    assert listed == read


def test_admin_forget_deletes_one_runner(tmp_path: Path) -> None:
    store = {"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}"}
    env = {**os.environ, **store}
    for user in ("alice", "bob"):
        subprocess.run(
            [*kneebot_command(), "chat", "--json", "--user", user],
            input='{"value": "start"}\n', capture_output=True, text=True, timeout=30, env=env, check=True,
        )  # fmt: skip
    result = subprocess.run(
        [*kneebot_command(), "forget", "--user", "alice"], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "deleted 1 conversation of user 'alice'" in result.stdout
    again = subprocess.run(
        [*kneebot_command(), "chat", "--json", "--user", "bob"], input="", capture_output=True, text=True,
        timeout=30, env=env,
    )  # fmt: skip
    assert '"resume"' in again.stdout, "bob's conversation is untouched"
