"""Conditions and templates from content, evaluated as Jinja2's sandbox evaluates them.

Content holds no code: a condition is a Jinja2 expression over the facts (`onset == "injury" and
days_since_onset <= 7`), a text is a Jinja2 template. Jinja2 parses both, in a
`SandboxedEnvironment` with `StrictUndefined`, so a name that is not a fact fails at load time
rather than in a chat. What they are made of decides how they run:

- a condition of names, constants, comparisons, `and`/`or`/`not` and type tests is one plain
  Python function written from its parsed tree (`compile_condition`);
- a template of text, outputs, `if`, `for`, a top-level `set`, inline `if`, `~`, arithmetic, the
  `join` and `distance` filters, attribute reads through the sandbox's own `getattr` and
  `{...}.get()` is one too (`compile_template`), and any call of it that raises renders in the
  sandbox instead, so errors are always Jinja2's;
- anything else runs in the sandbox itself.

A fact that has not been asked is `UNKNOWN`: never equal to a value, never inside a range, never
containing anything. A rule that needs a fact only fires once that fact is known, which is what
lets the engine stop early on urgent rules without guessing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.filters import sync_do_join
from jinja2.meta import find_undeclared_variables
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "UNKNOWN",
    "Condition",
    "FactCondition",
    "Special",
    "Template",
    "compared_values",
    "compile_condition",
    "compile_fact_condition",
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


@lru_cache(maxsize=4096)
def _parse(source: str, expression: bool) -> nodes.Template:
    """Jinja2's syntax tree of a source, parsed once: loading a content reads each source's tree
    three times (its names, its compiled form, the values it compares), and parsing is most of
    what a load costs. The trees are only ever read (Jinja2's own code generator, which folds
    constants in place, is given a tree of its own)."""
    return _env.parse(_wrapped(source, expression))


def _wrapped(source: str, expression: bool) -> str:
    return "{{ (" + source + ") }}" if expression else source


def parse_condition(source: str) -> nodes.Template:
    """The syntax tree of a condition, for lints. Raises TemplateSyntaxError."""
    return _parse(source, True)


def names_in(source: str, *, expression: bool) -> set[str]:
    """The free names a condition or template uses. Raises TemplateSyntaxError.

    Jinja2's own answer (`find_undeclared_variables`) runs its code generator over the tree. A
    source that declares nothing (no `set`, `for`, macro, block...) and names none of the words
    Jinja2 gives a meaning of their own has every name it reads free, so those are read off the
    tree directly, which costs a tenth as much; anything else gets Jinja2's answer.
    """
    return set(_names(source, expression))


@lru_cache(maxsize=4096)
def _names(source: str, expression: bool) -> frozenset[str]:
    tree = _parse(source, expression)
    names = frozenset(node.name for node in tree.find_all(nodes.Name) if node.ctx == "load")
    if names & _SPECIAL_NAMES or next(tree.find_all(_DECLARING), None) is not None:
        # On a tree of its own: Jinja2's code generator folds constants in the tree it reads.
        return frozenset(find_undeclared_variables(_env.parse(_wrapped(source, expression))))
    return names


# What declares a name inside a template, leaving it out of the free ones.
_DECLARING = (
    nodes.Assign,
    nodes.AssignBlock,
    nodes.For,
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.With,
    nodes.Block,
    nodes.Import,
    nodes.FromImport,
    nodes.Include,
    nodes.Extends,
    nodes.Scope,
    nodes.OverlayScope,
    nodes.ScopedEvalContextModifier,
    nodes.NSRef,
)


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
    function = _written_condition(source, _Writer(template=False))
    if function is not None:
        return function  # type: ignore[no-any-return]
    expression = _env.compile_expression(source, undefined_to_none=False)

    def evaluate(context: Mapping[str, Any]) -> bool:
        return bool(expression(**context))

    return evaluate


FactCondition = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]


@lru_cache(maxsize=1024)
def compile_fact_condition(
    source: str, facts: frozenset[str], numbers: frozenset[str]
) -> FactCondition | None:
    """A condition over the facts known so far and the settings, given as two mappings, as the
    engine checks one on every turn without merging them into a context first. It answers as
    `compile_condition`'s would on the merged context: a name in `facts` that the first mapping
    lacks is UNKNOWN, a word given for one of the `numbers` is a `Special`, any other name is a
    setting. None for a condition that runs in the sandbox, which needs the whole context.
    Raises TemplateSyntaxError.
    """
    return _written_condition(source, _Writer(template=False, facts=facts, numbers=numbers))  # type: ignore[no-any-return]


def _written_condition(source: str, writer: _Writer) -> Any:
    """The plain Python function for a condition, written by `writer`, or None.

    Jinja2 compiles the nodes the writer takes to the same Python operators (a chain of
    comparisons stays a chain), so the function answers exactly as the sandbox would.
    """
    output = _parse(source, True).body[0]
    if not (isinstance(output, nodes.Output) and len(output.nodes) == 1):
        return None
    try:
        python = writer.expression(output.nodes[0])
    except _Refused:
        return None
    arguments = "c" if writer.facts is None else "f, s"
    # Only what the writer wrote is run: look-ups, constants, operators, `bool` and the tests.
    code = compile(f"lambda {arguments}: bool({python})", "<condition>", "eval")
    names = {"__builtins__": {"bool": bool}, "tests": _TESTS, "U": UNKNOWN, "number": _as_number}
    return eval(code, names)


def _as_number(value: Any) -> Any:
    """A number fact's value as a context holds it: a word (`none`) as a Special."""
    return Special(value) if value.__class__ is str else value


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


class _Refused(Exception):
    """A construct the plain-Python writer leaves to the sandbox."""


# Names Jinja2 gives a meaning of its own inside a template; a template naming one renders in the
# sandbox.
_SPECIAL_NAMES = frozenset({"loop", "self", "super", "caller", "varargs", "kwargs"})
# The filters a compiled template may call, with what Jinja2 passes them first: `join` takes the
# evaluation context, `distance` the context, of which it only reads `unit` and `unit_word` with
# `.get`, as the caller's dict answers them.
_FILTERS = {"join": "ev", "distance": "c"}
# What the environment's `join` runs in a sandbox that is not async, without the wrapper that
# asks each call whether it is.
_SYNC_FILTERS = {"join": sync_do_join}
_BINARY = {nodes.Mul: "*", nodes.Add: "+", nodes.Sub: "-", nodes.Div: "/"}


class _Writer:
    """Python source written from a parsed condition or template; raises _Refused on anything else.

    For a condition (`template=False`) it writes names, constants, lists and tuples, comparisons,
    signs, `and`/`or`/`not` and type tests. A template adds text and `{{ }}` outputs, `if`, `for`
    over names or tuples of names, a top-level `set`, dict literals, inline `if`, `~`, `* + - /`,
    the `join` and `distance` filters, attribute reads through the sandbox's own `getattr`, and
    `.get()` on a dict literal. Jinja2 compiles each of these to the same Python, so the function
    answers as the sandbox would; every name the source holds comes from this module, never from
    the content, which only reaches it through `repr`.
    """

    def __init__(
        self, template: bool, facts: frozenset[str] | None = None, numbers: frozenset[str] = frozenset()
    ) -> None:
        self.template = template
        self.facts = facts
        """For a condition over (facts, settings): the names that are facts, and of those the
        `numbers`; None for one over a single context."""
        self.numbers = numbers
        self.scopes: list[dict[str, str]] = [{}]
        """Template names bound in the function (`set`, loop targets) to their Python locals."""
        self.read: set[str] = set()
        """Names read from the context so far; a later `set` of one renders in the sandbox."""
        self.constants: dict[str, Any] = {}
        self.lines: list[str] = []
        self.count = 0

    def _fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def _name(self, name: str) -> str:
        if not self.template:
            if self.facts is None:
                return f"c[{name!r}]"
            if name in self.numbers:
                return f"number(f.get({name!r}, U))"
            return f"f.get({name!r}, U)" if name in self.facts else f"s[{name!r}]"
        if name in _SPECIAL_NAMES:
            raise _Refused(name)
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        self.read.add(name)
        return f"c[{name!r}]"

    def expression(self, node: nodes.Node) -> str:
        expression = self.expression
        if isinstance(node, nodes.Const):
            value = node.value
            if value is None or isinstance(value, bool | str | int):
                return repr(value)
            if isinstance(value, float) and math.isfinite(value):
                return repr(value)
            raise _Refused(node)
        if isinstance(node, nodes.Name) and node.ctx == "load":
            return self._name(node.name)
        if isinstance(node, nodes.List | nodes.Tuple):
            items = [expression(item) for item in node.items]
            inside = ", ".join(items)
            return f"[{inside}]" if isinstance(node, nodes.List) else f"({inside}{',' if items else ''})"
        if isinstance(node, nodes.Not | nodes.Neg | nodes.Pos):
            sign = "not " if isinstance(node, nodes.Not) else "-" if isinstance(node, nodes.Neg) else "+"
            return f"({sign}{expression(node.node)})"
        if isinstance(node, nodes.And | nodes.Or):
            word = "and" if isinstance(node, nodes.And) else "or"
            return f"({expression(node.left)} {word} {expression(node.right)})"
        if isinstance(node, nodes.Test):
            if node.args or node.kwargs or node.dyn_args or node.dyn_kwargs or node.name not in _TESTS:
                raise _Refused(node)
            return f"tests[{node.name!r}]({expression(node.node)})"
        if isinstance(node, nodes.Compare):
            parts = [expression(node.expr)]
            for op in node.ops:
                if op.op not in _OPERATORS:
                    raise _Refused(node)
                parts += [_OPERATORS[op.op], expression(op.expr)]
            return f"({' '.join(parts)})"
        if not self.template:
            raise _Refused(node)
        return self._template_expression(node)

    def _template_expression(self, node: nodes.Node) -> str:
        expression = self.expression
        if isinstance(node, nodes.Dict):
            pairs = ", ".join(f"{expression(pair.key)}: {expression(pair.value)}" for pair in node.items)
            return f"{{{pairs}}}"
        if isinstance(node, nodes.CondExpr):
            if node.expr2 is not None:
                otherwise = expression(node.expr2)
            else:
                # Jinja2's implicit else: a plain Undefined (not the environment's StrictUndefined),
                # which renders as ''. It holds nothing a rendering could change, so one is shared.
                otherwise = self._fresh("u")
                self.constants[otherwise] = Undefined(
                    f"the inline if-expression on line {node.lineno} evaluated to false and"
                    " no else section was defined."
                )
            return f"({expression(node.expr1)} if {expression(node.test)} else {otherwise})"
        if isinstance(node, nodes.Concat):
            return f"''.join(map(str, ({''.join(expression(item) + ', ' for item in node.nodes)})))"
        if type(node) in _BINARY:
            assert isinstance(node, nodes.BinExpr)
            return f"({expression(node.left)} {_BINARY[type(node)]} {expression(node.right)})"
        if isinstance(node, nodes.Filter):
            if node.node is None or node.dyn_args or node.dyn_kwargs or node.name not in _FILTERS:
                raise _Refused(node)
            function = self._fresh("f")
            self.constants[function] = _SYNC_FILTERS.get(node.name, _env.filters[node.name])
            args = [_FILTERS[node.name], expression(node.node), *map(expression, node.args)]
            if node.kwargs and all(isinstance(keyword.value, nodes.Const) for keyword in node.kwargs):
                # Constant keywords (`plain=True`) are built once; `**` hands the filter a copy.
                keywords = self._fresh("k")
                self.constants[keywords] = {keyword.key: keyword.value.as_const() for keyword in node.kwargs}
                args.append(f"**{keywords}")
            elif node.kwargs:
                pairs = ", ".join(f"{keyword.key!r}: {expression(keyword.value)}" for keyword in node.kwargs)
                args.append(f"**{{{pairs}}}")
            return f"{function}({', '.join(args)})"
        if isinstance(node, nodes.Getattr) and node.ctx == "load":
            return f"getattr_({expression(node.node)}, {node.attr!r})"
        if isinstance(node, nodes.Call):
            # Only `{...}.get(key[, default])`: the sandbox would read `get` off a dict it built and
            # call it as it is, which is what this does.
            method = node.node
            if not (
                isinstance(method, nodes.Getattr)
                and method.attr == "get"
                and isinstance(method.node, nodes.Dict)
                and 1 <= len(node.args) <= 2
                and not (node.kwargs or node.dyn_args or node.dyn_kwargs)
            ):
                raise _Refused(node)
            return f"{expression(method.node)}.get({', '.join(map(expression, node.args))})"
        raise _Refused(node)

    def output(self, node: nodes.Output) -> list[str]:
        """Each piece of an output: its text, or `str()` of its value, as Jinja2 writes them."""
        return [
            repr(child.data) if isinstance(child, nodes.TemplateData) else f"str({self.expression(child)})"
            for child in node.nodes
        ]

    def statements(self, body: list[nodes.Node], depth: int) -> None:
        """Append the Python lines for template statements, `depth` levels into the function."""
        pad = "    " * depth
        start = len(self.lines)
        for node in body:
            if isinstance(node, nodes.Output):
                self.lines.append(f"{pad}x(({''.join(part + ', ' for part in self.output(node))}))")
            elif isinstance(node, nodes.If):
                self._if(node, depth)
            elif isinstance(node, nodes.For):
                self._for(node, depth)
            elif isinstance(node, nodes.Assign) and depth == 2 and isinstance(node.target, nodes.Name):
                # Only at the top, as Jinja2 exports it: later reads see the value, the caller's dict
                # is never written. A name read before its `set`, or one `distance` reads from the
                # context, is left to the sandbox, whose scoping of those is subtler.
                name = node.target.name
                value = self.expression(node.node)
                if name in self.read or name in _SPECIAL_NAMES or name in ("unit", "unit_word"):
                    raise _Refused(node)
                local = self._fresh("v")
                self.lines.append(f"{pad}{local} = {value}")
                self.scopes[0][name] = local
            else:
                raise _Refused(node)
        if len(self.lines) == start:
            self.lines.append(f"{pad}pass")

    def _if(self, node: nodes.If, depth: int) -> None:
        pad = "    " * depth
        self.lines.append(f"{pad}if {self.expression(node.test)}:")
        self.statements(node.body, depth + 1)
        for branch in node.elif_:
            if branch.elif_ or branch.else_:
                raise _Refused(node)
            self.lines.append(f"{pad}elif {self.expression(branch.test)}:")
            self.statements(branch.body, depth + 1)
        if node.else_:
            self.lines.append(f"{pad}else:")
            self.statements(node.else_, depth + 1)

    def _for(self, node: nodes.For, depth: int) -> None:
        if node.else_ or node.test or node.recursive:
            raise _Refused(node)
        iterable = self.expression(node.iter)  # read in the enclosing scope, as Jinja2 does
        targets = node.target.items if isinstance(node.target, nodes.Tuple) else [node.target]
        scope: dict[str, str] = {}
        for target in targets:
            if not isinstance(target, nodes.Name) or target.ctx != "store" or target.name in _SPECIAL_NAMES:
                raise _Refused(node)
            scope[target.name] = self._fresh("v")
        if isinstance(node.target, nodes.Tuple):
            written = f"({''.join(scope[target.name] + ', ' for target in targets)})"  # type: ignore[attr-defined]
        else:
            written = scope[node.target.name]  # type: ignore[attr-defined]
        self.lines.append(f"{'    ' * depth}for {written} in {iterable}:")
        # Loop targets are the loop's own: after it, the name means what it meant before.
        self.scopes.append(scope)
        self.statements(node.body, depth + 1)
        self.scopes.pop()


def compile_template(source: str) -> Template:
    """Compile a text template. Raises TemplateSyntaxError.

    A template made of what `_Writer` knows, as every shipped one is, becomes one plain Python
    function written from its parsed tree (its `co_filename` is `<template>`): each output
    through `str`, the whole stripped, names looked up in the caller's dict, which it never
    writes. Should a call raise anything at all (a name missing from the context among others),
    that call renders in the sandbox instead, so an error is always Jinja2's own and an unusual
    value can never make the two differ silently. Anything else renders in the sandbox, in a
    light context over the caller's dict: the engine's contexts are built fresh for each turn
    and never changed, and a content template can name no Jinja2 global (the loader refuses
    every name that is not a fact, a setting or its own), so there is nothing to copy them into.
    """
    tree = _parse(source, False)
    if names_in(source, expression=False) & _env.globals.keys():
        template = _env.from_string(source)

        def render_with_globals(context: Mapping[str, Any]) -> str:
            return template.render(**context).strip()

        return render_with_globals
    sandboxed: list[Template] = []

    def fallback(context: Mapping[str, Any]) -> str:
        if not sandboxed:  # compiled on first need: most compiled templates never need it
            sandboxed.append(_sandboxed(source))
        return sandboxed[0](context)

    return _written(tree, fallback) or fallback


def _sandboxed(source: str) -> Template:
    template = _env.from_string(source)
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


_EVAL_CONTEXT = EvalContext(_env)
"""What Jinja2 hands a filter like `join` that takes the evaluation context (autoescape off)."""


def _written(tree: nodes.Template, fallback: Template) -> Template | None:
    """The template as one plain Python function, or None if it holds more than _Writer knows."""
    writer = _Writer(template=True)
    try:
        if all(isinstance(node, nodes.Output) for node in tree.body):
            outputs: list[nodes.Output] = tree.body  # type: ignore[assignment]
            if all(isinstance(child, nodes.TemplateData) for node in outputs for child in node.nodes):
                text = "".join(child.data for node in outputs for child in node.nodes).strip()  # type: ignore[attr-defined]
                return _python_function([f"    return {text!r}"], {})
            parts = [part for node in outputs for part in writer.output(node)]
            body = [f"        return ''.join(({''.join(part + ', ' for part in parts)})).strip()"]
        else:
            writer.statements(tree.body, 2)
            body = [
                "        o = []",
                "        x = o.extend",
                *writer.lines,
                "        return ''.join(o).strip()",
            ]
    except (_Refused, RecursionError):
        return None
    # Should the function raise anything at all, the sandbox renders that call, outside the
    # handler so that what it raises is Jinja2's own error and nothing else.
    lines = [
        "    try:",
        "        if type(c) is not dict:",
        "            c = dict(c)",
        *body,
        "    except Exception:",
        "        pass",
        "    return fallback(c)",
    ]
    try:
        return _python_function(lines, {"fallback": fallback, **writer.constants})
    except (SyntaxError, RecursionError, MemoryError):  # nested past what Python compiles
        return None


def _python_function(body: list[str], names: dict[str, Any]) -> Template:
    """`def render(c):` over the body _Writer wrote, run with nothing but what it calls: `str`,
    `map`, `dict`, `type`, the type tests, the two filters, the sandbox's `getattr`, and the
    sandbox itself should anything raise."""
    namespace: dict[str, Any] = {
        "__builtins__": {"str": str, "map": map, "dict": dict, "type": type, "Exception": Exception},
        "tests": _TESTS,
        "getattr_": _env.getattr,
        "ev": _EVAL_CONTEXT,
        **names,
    }
    code = compile("\n".join(["def render(c):", *body]), "<template>", "exec")
    exec(code, namespace)
    render: Template = namespace["render"]
    return render
