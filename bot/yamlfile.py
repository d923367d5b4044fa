"""Safe YAML loading that keeps `yes`/`no`/`on`/`off` as strings and remembers every line.

YAML 1.1 turns `yes` and `no` into booleans: exactly the answers a triage uses. Only `true` and
`false` are booleans here. Each value's line is kept under its path, so a pydantic error location
can be turned back into `file:line`.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["Lines", "line_of", "load_yaml"]

Path_ = tuple[str | int, ...]
Lines = dict[Path_, int]


# libyaml's parser when PyYAML has it (it ships in PyYAML's wheels), the pure-Python one if not:
# the same safe constructor and resolvers either way, several times faster with libyaml.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _walk(node: yaml.Node, path: Path_, lines: Lines) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
            _walk(value, (*path, name), lines)
            # A block value starts on the line after its key; the key's line reads better.
            lines[(*path, name)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def load_yaml(text: str) -> tuple[Any, Lines]:
    """Parse one YAML document; return the data and the line of every path in it.

    Raises yaml.YAMLError (with a problem_mark) on malformed YAML.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: Lines = {}
        if node is None:
            return None, lines
        _walk(node, (), lines)
        # One parse: the data is built from the same nodes whose lines were just read.
        return loader.construct_document(node), lines
    finally:
        loader.dispose()


def line_of(lines: Lines, path: Path_) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        found = lines.get(tuple(path[:end]))
        if found is not None:
            return found
    return None
