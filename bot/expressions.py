"""Conditions and templates from content, evaluated in a Jinja2 sandbox.

Content holds no code: a condition is a Jinja2 expression over the facts (`onset == "injury" and
days_since_onset <= 7`), a text is a Jinja2 template. Both run in a `SandboxedEnvironment` with
`StrictUndefined`, so a name that is not a fact fails at load time rather than in a chat.

A fact that has not been asked is `UNKNOWN`: never equal to a value, never inside a range, never
containing anything. A rule that needs a fact only fires once that fact is known, which is what
lets the engine stop early on urgent rules without guessing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, UndefinedError, nodes, pass_context
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

    Jinja2 parses it. A condition made only of names, constants (and lists of them), comparisons,
    signs, `and`/`or`/`not` and type tests (`is string`), as every shipped one is, then becomes
    one plain Python function written from the parsed tree: names become look-ups in the
    context, constants their `repr`, operators themselves. It can reach no attribute and call
    nothing but Jinja2's own type tests, so there is nothing to sandbox, and it costs a fraction
    of a microsecond rather than a new Jinja2 context per call. Anything else runs in the sandbox
    as it is.
    """
    output = _parse(source, True).body[0]
    python = _python(output.nodes[0]) if isinstance(output, nodes.Output) and len(output.nodes) == 1 else None
    if python is not None:
        # Only what _python wrote is run: look-ups, constants, operators, `bool` and the tests.
        code = compile(f"lambda c: bool({python})", "<condition>", "eval")
        function: Condition = eval(code, {"__builtins__": {"bool": bool}, "tests": _TESTS})
        return function
    expression = _env.compile_expression(source, undefined_to_none=False)

    def evaluate(context: Mapping[str, Any]) -> bool:
        return bool(expression(**context))

    return evaluate


_OPERATORS = {
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "lteq": "<=",
    "gt": ">",
    "gteq": ">=",
    "in": "in",
    "notin": "not in",
}


# Jinja2's tests that only look at a value's type or identity, called as Jinja2 calls them.
_TESTS = {
    name: _env.tests[name]
    for name in ("string", "number", "integer", "float", "boolean", "none", "true", "false")
}


def _python(node: nodes.Node) -> str | None:
    """Python source for the small, call-free part of Jinja2's expression language, or None.

    Jinja2 compiles these nodes to the same Python operators (a chain of comparisons stays a
    chain), so the function answers exactly as the sandbox would.
    """
    if isinstance(node, nodes.Const):
        value = node.value
        if value is None or isinstance(value, bool | str | int):
            return repr(value)
        return repr(value) if isinstance(value, float) and math.isfinite(value) else None
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return f"c[{node.name!r}]"
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [_python(item) for item in node.items]
        if any(item is None for item in items):
            return None
        inside = ", ".join(items)  # type: ignore[arg-type]
        return f"[{inside}]" if isinstance(node, nodes.List) else f"({inside}{',' if items else ''})"
    if isinstance(node, nodes.Not | nodes.Neg | nodes.Pos):
        inner = _python(node.node)
        sign = "not " if isinstance(node, nodes.Not) else "-" if isinstance(node, nodes.Neg) else "+"
        return None if inner is None else f"({sign}{inner})"
    if isinstance(node, nodes.And | nodes.Or):
        left, right = _python(node.left), _python(node.right)
        if left is None or right is None:
            return None
        return f"({left} {'and' if isinstance(node, nodes.And) else 'or'} {right})"
    if isinstance(node, nodes.Test):
        inner = _python(node.node)
        plain = not (node.args or node.kwargs or node.dyn_args or node.dyn_kwargs)
        return f"tests[{node.name!r}]({inner})" if inner and plain and node.name in _TESTS else None
    if isinstance(node, nodes.Compare):
        parts = [_python(node.expr)]
        for op in node.ops:
            parts += [_OPERATORS.get(op.op), _python(op.expr)]
        if any(part is None for part in parts):
            return None
        return f"({' '.join(parts)})"  # type: ignore[arg-type]
    return None


def compile_template(source: str) -> Template:
    """Compile a text template. Raises TemplateSyntaxError.

    A plain template, text and `{{ name }}`s only, is joined in Python as Jinja2 would render it
    (each value through `str`, a name missing from the context an `UndefinedError`). Anything
    else renders in the sandbox, in a light context over the caller's dict: the engine's
    contexts are built fresh for each turn and never changed, and a content template can name no
    Jinja2 global (the loader refuses every name that is not a fact, a setting or its own), so
    there is nothing to copy them into.
    """
    tree = _parse(source, False)
    plain = _plain(tree)
    if plain is not None:
        return _joined(plain)
    template = _env.from_string(source)
    if names_in(source, expression=False) & _env.globals.keys():

        def render_with_globals(context: Mapping[str, Any]) -> str:
            return template.render(**context).strip()

        return render_with_globals
    root, name, blocks = template.root_render_func, template.name, template.blocks
    make = _env.context_class

    def render(context: Mapping[str, Any]) -> str:
        parent = context if isinstance(context, dict) else dict(context)
        try:
            return _env.concat(root(make(_env, parent, name, blocks))).strip()
        except Exception:
            _env.handle_exception()
            raise  # handle_exception always raises; this is for the type checker

    return render


def _plain(tree: nodes.Template) -> list[str | nodes.Name] | None:
    """The text and names of a template made of nothing else, or None."""
    parts: list[str | nodes.Name] = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
            elif isinstance(node, nodes.Name) and node.ctx == "load":
                parts.append(node)
            else:
                return None
    return parts


def _joined(parts: list[str | nodes.Name]) -> Template:
    if all(isinstance(part, str) for part in parts):
        text = "".join(parts).strip()  # type: ignore[arg-type]
        return lambda _context: text
    pieces = tuple(part if isinstance(part, str) else (part.name,) for part in parts)

    def render(context: Mapping[str, Any]) -> str:
        out = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
            else:
                try:
                    out.append(str(context[piece[0]]))
                except KeyError:
                    raise UndefinedError(f"{piece[0]!r} is undefined") from None
        return "".join(out).strip()

    return render
