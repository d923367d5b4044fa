"""Conditions and templates from content, evaluated in a Jinja2 sandbox.

Content holds no code: a condition is a Jinja2 expression over the facts (`onset == "injury" and
days_since_onset <= 7`), a text is a Jinja2 template. Both run in a `SandboxedEnvironment` with
`StrictUndefined`, so a name that is not a fact fails at load time rather than in a chat.

A fact that has not been asked is `UNKNOWN`: never equal to a value, never inside a range, never
containing anything. A rule that needs a fact only fires once that fact is known, which is what
lets the engine stop early on urgent rules without guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "UNKNOWN",
    "Condition",
    "Special",
    "Template",
    "compared_values",
    "compile_condition",
    "compile_template",
    "names_in",
    "parse_condition",
]


class _Unknown:
    """A fact not asked (yet). Renders as an empty string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __str__(self) -> str:
        return ""

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return other is self

    def __ne__(self, other: object) -> bool:
        return other is not self

    def __hash__(self) -> int:
        return 0

    def _never(self, other: object) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _never

    def __contains__(self, item: object) -> bool:
        return False

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0


UNKNOWN: Any = _Unknown()


class Special(str):
    """A word a number fact accepts instead of a number (`none`, `unsure`).

    It equals its own word and is never below or above any number, so `days_to_race <= 14` is
    false when there is no race.
    """

    __slots__ = ()

    def _compare(self, other: object) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _compare
    __hash__ = str.__hash__


_env = SandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


@pass_context
def _distance(context: Context, miles: float, plain: bool = False) -> str:
    """Miles in the club's unit, rounded: `40 miles`, `64 km`, or just `64` with plain=True."""
    km = context.get("unit") == "km"
    number = round(float(miles) * (1.609344 if km else 1))
    return str(number) if plain else f"{number} {context.get('unit_word') or ('km' if km else 'miles')}"


_env.filters["distance"] = _distance


def _parse(source: str, expression: bool) -> nodes.Template:
    return _env.parse("{{ (" + source + ") }}" if expression else source)


def parse_condition(source: str) -> nodes.Template:
    """The syntax tree of a condition, for lints. Raises TemplateSyntaxError."""
    return _parse(source, True)


def names_in(source: str, *, expression: bool) -> set[str]:
    """The free names a condition or template uses. Raises TemplateSyntaxError."""
    return set(find_undeclared_variables(_parse(source, expression)))


def compared_values(source: str) -> list[tuple[str, str]]:
    """(fact, value) for every `fact == "v"`, `fact != "v"` and `"v" in fact` in a condition."""
    found: list[tuple[str, str]] = []
    for compare in _parse(source, True).find_all(nodes.Compare):
        operands = [compare.expr, *(op.expr for op in compare.ops)]
        for left, op, right in zip(operands, compare.ops, operands[1:], strict=False):
            if op.op in ("eq", "ne"):
                pairs = [(left, right), (right, left)]
            elif op.op in ("in", "notin"):
                pairs = [(right, left)]
            else:
                continue
            for name, const in pairs:
                if (
                    isinstance(name, nodes.Name)
                    and isinstance(const, nodes.Const)
                    and isinstance(const.value, str)
                ):
                    found.append((name.name, const.value))
    return found


Condition = Callable[[Mapping[str, Any]], bool]
Template = Callable[[Mapping[str, Any]], str]


def compile_condition(source: str) -> Condition:
    """Compile a condition. Raises TemplateSyntaxError.

    Jinja2 parses it. A condition made only of names, constants, comparisons and `and`/`or`/
    `not` (every shipped one) then runs as plain Python closures: it can reach no attribute and
    call nothing, so there is nothing to sandbox, and it costs a fraction of a microsecond rather
    than a new Jinja2 context per call. Anything else runs in the sandbox as it is.
    """
    output = _parse(source, True).body[0]
    fast = _closure(output.nodes[0]) if isinstance(output, nodes.Output) and len(output.nodes) == 1 else None
    if fast is not None:
        return lambda context: bool(fast(context))
    expression = _env.compile_expression(source, undefined_to_none=False)

    def evaluate(context: Mapping[str, Any]) -> bool:
        return bool(expression(**context))

    return evaluate


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}

Closure = Callable[[Mapping[str, Any]], Any]


def _closure(node: nodes.Node) -> Closure | None:
    """A Python closure for the small, call-free part of Jinja2's expression language."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str | int | float | bool | None):
        value = node.value
        return lambda _: value
    if isinstance(node, nodes.Name) and node.ctx == "load":
        name = node.name
        return lambda context: context[name]
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [_closure(item) for item in node.items]
        if all(items):
            return lambda context: [item(context) for item in items]  # type: ignore[misc]
        return None
    if isinstance(node, nodes.Not):
        inner = _closure(node.node)
        return None if inner is None else (lambda context: not inner(context))
    if isinstance(node, nodes.And | nodes.Or):
        left, right = _closure(node.left), _closure(node.right)
        if left is None or right is None:
            return None
        if isinstance(node, nodes.And):
            return lambda context: left(context) and right(context)
        return lambda context: left(context) or right(context)
    if isinstance(node, nodes.Compare):
        first = _closure(node.expr)
        steps = [(_COMPARE.get(op.op), _closure(op.expr)) for op in node.ops]
        if first is None or any(compare is None or operand is None for compare, operand in steps):
            return None

        def compare(context: Mapping[str, Any]) -> bool:
            left = first(context)
            for test, operand in steps:
                right = operand(context)  # type: ignore[misc]
                if not test(left, right):  # type: ignore[misc]
                    return False
                left = right
            return True

        return compare
    return None


def compile_template(source: str) -> Template:
    """Compile a text template. Raises TemplateSyntaxError."""
    template = _env.from_string(source)

    def render(context: Mapping[str, Any]) -> str:
        return template.render(**context).strip()

    return render
