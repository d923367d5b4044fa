"""Draw the triage flow from the content: Mermaid (which GitHub renders) or Graphviz DOT."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Edge:
    start: str
    end: str
    label: str = ""
    style: str = "solid"  # solid, dashed (a skipped follow-up) or thick (an urgent exit)


def _edges(content: Content) -> list[Edge]:
    """The flow as edges between step nodes `s0`…, `decide` and the three outcomes."""
    exits = _urgent_exits(content)
    steps = content.steps
    edges = [Edge("start", "s0")]
    for index, step in enumerate(steps):
        target = f"s{index + 1}" if index + 1 < len(steps) else "decide"
        following = steps[index + 1] if index + 1 < len(steps) else None
        if following is not None and following.where.source:
            edges.append(Edge(f"s{index}", target, " ".join(following.where.source.split())))
            after = f"s{index + 2}" if index + 2 < len(steps) else "decide"
            edges.append(Edge(f"s{index}", after, "otherwise", "dashed"))
        else:
            edges.append(Edge(f"s{index}", target))
        if step.ask in exits:
            edges.append(Edge(f"s{index}", "urgent", " ".join(exits[step.ask]), "thick"))
    for level in ("urgent", "see_professional", "self_care"):
        ids = " ".join(rule.id for rule in content.rules if rule.level == level)
        edges.append(Edge("decide", level, ids))
    return edges


_OUTCOMES = {
    "urgent": "urgent: care today",
    "see_professional": "see a professional",
    "self_care": "self-care",
}


def mermaid(content: Content) -> str:
    lines = ["flowchart TD", '  start(["start"])']
    for index, step in enumerate(content.steps):
        lines.append(f'  s{index}["{step.ask}<br/><i>{content.facts[step.ask].kind}</i>"]')
    lines.append('  decide{"rules, in order"}')
    lines.extend(f'  {level}[["{text}"]]' for level, text in _OUTCOMES.items())
    arrows = {"solid": "-->", "dashed": "-.->", "thick": "==>"}
    for edge in _edges(content):
        label = f'|"{edge.label.replace(chr(34), "#quot;")}"|' if edge.label else ""
        lines.append(f"  {edge.start} {arrows[edge.style]}{label} {edge.end}")
    return "\n".join(lines) + "\n"


def dot(content: Content) -> str:
    lines = ["digraph kneebot {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
    lines.append("  start [shape=oval];")
    for index, step in enumerate(content.steps):
        lines.append(f'  s{index} [label="{step.ask}\\n({content.facts[step.ask].kind})"];')
    lines.append('  decide [shape=diamond, label="rules, in order"];')
    lines.extend(f'  {level} [shape=doubleoctagon, label="{text}"];' for level, text in _OUTCOMES.items())
    styles = {"solid": "", "dashed": "style=dashed", "thick": "penwidth=2"}
    for edge in _edges(content):
        attributes = [
            a for a in (styles[edge.style], f'label="{_escape(edge.label)}"' if edge.label else "") if a
        ]
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {edge.start} -> {edge.end}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
