"""Draw the triage flow from the content: Mermaid (which GitHub renders) or Graphviz DOT."""

from __future__ import annotations

from jinja2.nodes import Name as _Name

from bot.content import Content
from bot.expressions import parse_condition
from bot.lint import can_hold

__all__ = ["dot", "mermaid"]


def _urgent_exits(content: Content) -> dict[str, list[str]]:
    """For each step, the urgent rules that can fire as soon as its fact is answered."""
    exits: dict[str, list[str]] = {}
    for rule in content.rules:
        if rule.level != "urgent":
            continue
        names = {n.name for n in parse_condition(rule.where.source).find_all(_Name)}
        known: set[str] = set()
        for step in content.steps:
            known.add(step.ask)
            if step.ask in names and can_hold(rule.when, rule.where, content, known):
                exits.setdefault(step.ask, []).append(rule.id)
    return exits


def mermaid(content: Content) -> str:
    lines = ["flowchart TD", '  start(["start"]) --> s0']
    exits = _urgent_exits(content)
    steps = content.steps
    for index, step in enumerate(steps):
        kind = content.facts[step.ask].kind
        lines.append(f'  s{index}["{step.ask}<br/><i>{kind}</i>"]')
        target = f"s{index + 1}" if index + 1 < len(steps) else "decide"
        nxt = steps[index + 1] if index + 1 < len(steps) else None
        if nxt is not None and nxt.where.source:
            lines.append(f'  s{index} -->|"{_quote(nxt.where.source)}"| {target}')
            after = f"s{index + 2}" if index + 2 < len(steps) else "decide"
            lines.append(f"  s{index} -.->|otherwise| {after}")
        else:
            lines.append(f"  s{index} --> {target}")
        if step.ask in exits:
            lines.append(f'  s{index} ==>|"{" ".join(exits[step.ask])}"| urgent')
    levels: dict[str, list[str]] = {"urgent": [], "see_professional": [], "self_care": []}
    for rule in content.rules:
        levels[rule.level].append(rule.id)
    lines.append('  decide{"rules, in order"}')
    for level, ids in levels.items():
        lines.append(f'  decide -->|"{" ".join(ids)}"| {level}')
    lines.append('  urgent[["urgent: care today"]]')
    lines.append('  see_professional[["see a professional"]]')
    lines.append('  self_care[["self-care"]]')
    return "\n".join(lines) + "\n"


def dot(content: Content) -> str:
    lines = ["digraph kneebot {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
    exits = _urgent_exits(content)
    steps = content.steps
    lines.append("  start [shape=oval]; start -> s0;")
    for index, step in enumerate(steps):
        lines.append(f'  s{index} [label="{step.ask}\\n({content.facts[step.ask].kind})"];')
        target = f"s{index + 1}" if index + 1 < len(steps) else "decide"
        nxt = steps[index + 1] if index + 1 < len(steps) else None
        if nxt is not None and nxt.where.source:
            lines.append(f'  s{index} -> {target} [label="{_escape(nxt.where.source)}"];')
            after = f"s{index + 2}" if index + 2 < len(steps) else "decide"
            lines.append(f'  s{index} -> {after} [style=dashed, label="otherwise"];')
        else:
            lines.append(f"  s{index} -> {target};")
        if step.ask in exits:
            lines.append(f'  s{index} -> urgent [penwidth=2, label="{" ".join(exits[step.ask])}"];')
    lines.append('  decide [shape=diamond, label="rules, in order"];')
    for rule in content.rules:
        lines.append(f'  decide -> {rule.level} [label="{rule.id}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return " ".join(text.split()).replace('"', "#quot;")


def _escape(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"')
