"""Contract YAML as text: the parser, the line of each node path, and a readable name for a field path.

What an error message needs to say `file:line: field: reason`, used by the loader (one contract's
validation errors) and by the checks across contracts (cross_checks.py).
"""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's C parser when PyYAML was built with it (it is, from PyPI): contracts load at every
# run's start (its job is rebuilt from them), and the pure-Python parser costs ~0.1 s per file.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def line_index(text: str) -> dict[tuple, int]:
    """Map each YAML node path (keys and list indexes) to its 1-based line number."""
    index: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                index[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
                index[path + (key,)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    root = yaml.compose(text, Loader=YAML_LOADER)
    if root is not None:
        walk(root, ())
    return index


def describe(loc: tuple, data: Any) -> str:
    """columns[3].type -> 'columns[3] (email).type' when the item has a name."""
    parts, cur = [], data
    for p in loc:
        if isinstance(p, int):
            label = f"[{p}]"
            try:
                cur = cur[p]
                if isinstance(cur, dict) and "name" in cur:
                    label += f" ({cur['name']})"
            except (IndexError, KeyError, TypeError):
                cur = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(p))
            cur = cur.get(p) if isinstance(cur, dict) else None
    return "".join(parts) or "(top level)"
