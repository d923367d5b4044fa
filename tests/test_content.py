"""Content loading: the shipped content is valid, and broken content fails at start-up with file and line."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.content import Content, default_content_dir, load_content
from bot.contract import FACTS
from bot.errors import ContentError
from bot.yamlfile import load_yaml
from tests.conftest import CONSTANTS
from tests.transcript import kneebot_command


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(default_content_dir(), target)
    return target


def edit(folder: Path, name: str, old: str, new: str) -> int:
    """Replace `old` once in a content file; return the line it was on."""
    path = folder / name
    text = path.read_text()
    assert text.count(old) >= 1, f"{old!r} not in {name}"
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1))
    return line


def problems(folder: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_content(folder, CONSTANTS)
    return [str(problem) for problem in caught.value.problems]


def test_shipped_content_covers_the_whole_contract(content: Content) -> None:
    assert set(content.facts) == set(FACTS)
    for name, spec in content.facts.items():
        assert spec.kind == FACTS[name].kind
        if spec.kind != "number":
            assert [c.value for c in spec.choices] == list(FACTS[name].values)
    ids = [rule.id for rule in content.rules]
    assert ids == [*(f"U{i}" for i in range(1, 7)), *(f"P{i}" for i in range(10)), "S1"]
    assert content.steps[0].ask == "red_flags"


def test_yes_and_no_stay_strings() -> None:
    data, _ = load_yaml("a: yes\nb: no\nc: on\nd: off\ne: true\nf: [Yes, NO, y, n]\n")
    assert data == {"a": "yes", "b": "no", "c": "on", "d": "off", "e": True, "f": ["Yes", "NO", "y", "n"]}
    facts = load_yaml((default_content_dir() / "facts.yaml").read_text())[0]["facts"]
    assert [c["value"] for c in facts["improving"]["choices"]] == ["yes", "no", "unsure"]


def test_yaml_is_loaded_safely(copy: Path) -> None:
    edit(
        copy,
        "messages.yaml",
        "restarted: Okay, starting over.",
        'restarted: !!python/object/apply:os.system ["true"]',
    )
    assert any("messages.yaml" in p and "not valid YAML" in p for p in problems(copy))


def test_bad_yaml_names_file_and_line(copy: Path) -> None:
    line = edit(copy, "rules.yaml", "  - id: U2", "  - id: [U2")
    found = problems(copy)
    assert any(p.startswith(f"{copy / 'rules.yaml'}:") and "not valid YAML" in p for p in found), found
    assert any(f"rules.yaml:{line}" in p or f"rules.yaml:{line + 1}" in p for p in found), found


def test_rule_naming_an_unknown_fact(copy: Path) -> None:
    line = edit(
        copy, "rules.yaml", "when: '\"calf_swelling\" in red_flags'", "when: '\"calf_swelling\" in red_flag'"
    )
    found = problems(copy)
    assert any(f"rules.yaml:{line - 3}" in p and "unknown fact 'red_flag'" in p for p in found), found


def test_rule_comparing_to_a_value_outside_the_contract(copy: Path) -> None:
    edit(copy, "rules.yaml", 'onset == "injury" and immediate_swelling == "yes"', 'onset == "injured"')
    assert any("onset has no value 'injured'" in p for p in problems(copy))


def test_choice_value_outside_the_contract(copy: Path) -> None:
    line = edit(copy, "facts.yaml", "- value: gradual", "- value: slowly")
    found = problems(copy)
    assert any(f"facts.yaml:{line}" in p and "'slowly' is outside the contract" in p for p in found), found
    assert any("no choice for gradual" in p for p in found)


def test_template_using_an_undefined_variable(copy: Path) -> None:
    line = edit(
        copy, "messages.yaml", 'understood: "Got it: {{ answer }}."', 'understood: "Got it: {{ anser }}."'
    )
    found = problems(copy)
    assert any(f"messages.yaml:{line}" in p and "undefined variable 'anser'" in p for p in found), found


def test_template_syntax_error_points_at_the_line(copy: Path) -> None:
    edit(copy, "outcomes.yaml", "{% if days_to_race <= 21 %}", "{% if days_to_race <= 21 %")
    assert any("outcomes.yaml:" in p and "template is not valid" in p for p in problems(copy))


def test_a_typo_in_a_key_is_refused(copy: Path) -> None:
    line = edit(copy, "flow.yaml", '    when: onset == "injury"\n', '    wen: onset == "injury"\n')
    found = problems(copy)
    assert any(f"flow.yaml:{line}" in p and "wen" in p and "Extra inputs" in p for p in found), found


@pytest.mark.parametrize(
    "escape",
    [
        "().__class__.__bases__[0].__subclasses__()",
        "red_flags.__class__.__mro__",
        "cycler.__init__.__globals__",
        "lipsum.__globals__['os']",
    ],
)
def test_escape_attempts_in_conditions_are_refused(copy: Path, escape: str) -> None:
    edit(copy, "rules.yaml", 'when: onset == "injury"\n', f"when: {escape!r}\n")
    assert problems(copy)


def test_escape_attempt_in_a_template_is_refused(copy: Path) -> None:
    edit(
        copy,
        "messages.yaml",
        "restarted: Okay, starting over.",
        "restarted: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"",
    )
    assert any("messages.yaml" in p and "may not" in p for p in problems(copy))


def test_the_red_flag_screen_must_come_first(copy: Path) -> None:
    edit(copy, "flow.yaml", "  - ask: red_flags\n  - ask: onset\n", "  - ask: onset\n  - ask: red_flags\n")
    assert any("red-flag screen must be asked first" in p for p in problems(copy))


def test_every_outcome_keeps_the_professional_prompt(copy: Path) -> None:
    edit(copy, "outcomes.yaml", "  {{ professional }}\n", "\n")
    assert any("must show {{ professional }}" in p for p in problems(copy))


def test_an_empty_file(copy: Path) -> None:
    (copy / "language.yaml").write_text("")
    assert any("language.yaml" in p for p in problems(copy))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*kneebot_command(), *args],
        capture_output=True,
        text=True,
        timeout=120,  # a guard against a hang, never a timing; a loaded machine is slow
        input="",
        env={**os.environ, "KNEEBOT_STORE": "memory://", **(env or {})},
    )


def test_content_check_command(copy: Path) -> None:
    ok = run("content", "check", str(copy))
    assert ok.returncode == 0
    assert "content ok" in ok.stdout
    line = edit(
        copy, "rules.yaml", "when: '\"calf_swelling\" in red_flags'", "when: '\"calf_swelling\" in red_flag'"
    )
    bad = run("content", "check", str(copy))
    assert bad.returncode == 2
    assert f"rules.yaml:{line - 3}: rule 'U2': condition names unknown fact 'red_flag'" in bad.stderr


def test_chat_refuses_to_start_on_broken_content(copy: Path) -> None:
    edit(copy, "facts.yaml", "- value: gradual", "- value: slowly")
    result = run("chat", "--json", env={"KNEEBOT_CONTENT": str(copy)})
    assert result.returncode == 2
    assert result.stdout == ""
    assert "facts.yaml:" in result.stderr
    assert "Traceback" not in result.stderr


def test_chat_runs_on_a_copied_content_folder(copy: Path) -> None:
    edit(copy, "messages.yaml", "Ready when you are.", "Ready when you are, Harriers.")
    result = run("chat", "--json", env={"KNEEBOT_CONTENT": str(copy)})
    assert result.returncode == 0
    assert "Ready when you are, Harriers." in result.stdout


def test_content_check_finds_a_rule_that_can_never_fire(copy: Path) -> None:
    line = edit(
        copy, "rules.yaml", 'when: onset == "injury"\n', 'when: onset == "injury" and onset == "gradual"\n'
    )
    result = run("content", "check", str(copy))
    assert result.returncode == 2
    assert f"rules.yaml:{line - 2}: rule 'P1' can never fire" in result.stderr


def test_content_check_finds_a_step_that_can_never_be_asked(copy: Path) -> None:
    line = edit(
        copy, "flow.yaml", "    when: days_since_onset >= 14\n", "    when: days_since_onset > 4000\n"
    )
    result = run("content", "check", str(copy))
    assert result.returncode == 2
    assert f"flow.yaml:{line - 1}: step 'improving' can never be asked" in result.stderr


def test_the_readme_shows_the_shipped_flow() -> None:
    graph = run("content", "graph")
    assert graph.returncode == 0
    assert graph.stdout.startswith("flowchart TD")
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"```mermaid\n{graph.stdout}```" in readme, "run kneebot content graph and update the README"
    dot = run("content", "graph", "--format", "dot")
    assert dot.stdout.startswith("digraph kneebot {")
    assert 'decide -> urgent [label="U1 U2 U3 U4 U5 U6"]' in dot.stdout


def test_content_loaded_without_settings_still_names_its_unit() -> None:
    # As a library caller loads it, with no KNEEBOT_* settings: a question that names the unit
    # is asked again after an answer out of range, rather than failing on an undefined name.
    from bot import engine
    from bot.model import Event, State
    from tests.conftest import NOW

    content = load_content(None, locale="es")
    state = State(asking="weekly_miles", content=content.version)
    [reply] = engine.step(content, state, Event("text", NOW, text="1.200")).replies
    assert "millas" in reply.text or "kilómetros" in reply.text
