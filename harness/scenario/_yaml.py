"""YAML for scenario files and ``--set`` values, parsed safely and within limits.

``yaml.safe_load`` builds no objects, but it still follows aliases (a "billion laughs" file
of a few hundred bytes expands to billions of nodes when anything walks it: JSON for
Locust, ``yaml.dump`` of the scenario as run), recurses once per nesting level (a file of
``[[[[...`` ends in RecursionError), and reads whatever size it is given. ``load_yaml``
refuses, before any object is built:

- more than ``MAX_BYTES`` of text, or text that is not UTF-8 (the position is named);
- nesting deeper than ``MAX_DEPTH`` (mappings and sequences);
- more than ``MAX_NODES`` nodes once aliases are expanded (anchors and aliases themselves,
  e.g. ``<<: *defaults``, stay allowed).

Errors are ``YamlLimitError`` (a ``ValueError``) whose message says what and where; callers
turn it into the error of their own context (ScenarioError, RunDirError).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_BYTES = 256 * 1024
MAX_DEPTH = 50
MAX_NODES = 100_000


class YamlLimitError(ValueError):
    """YAML that cannot be used: not UTF-8, too big, too deep, too many nodes, or invalid."""


def _where(node_or_mark: Any) -> str:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    line = getattr(mark, "line", None)
    return f"line {line + 1}, column {mark.column + 1}: " if line is not None else ""


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that stops composing past ``MAX_DEPTH`` nested collections."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlLimitError(
                    f"{_where(self.peek_event())}nested more than {MAX_DEPTH} levels deep")  # type: ignore[no-untyped-call]
            node: Node | None = Composer.compose_node(self, parent, index)
            return node
        finally:
            self._depth -= 1


def expanded_size(root: Node, limit: int = MAX_NODES) -> int:
    """Nodes in ``root`` with every alias expanded, counted without expanding anything.

    An alias is the same node object seen again, so each distinct node's size is computed
    once (iteratively: no recursion on deep input). Raises YamlLimitError past ``limit``.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        if not children_done:
            if id(node) in visiting:  # reached again below itself: ``&a [*a]``
                raise YamlLimitError(f"{_where(node)}an alias refers to the node that holds it")
            visiting.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        size = 1 + sum(sizes[id(c)] for c in children)
        if size > limit:
            raise YamlLimitError(
                f"{_where(node)}more than {limit:,} values once aliases (*name) are expanded"
                " (an alias bomb?)")
        sizes[id(node)] = size
        visiting.discard(id(node))
    return sizes[id(root)]


def decode_utf8(data: bytes) -> str:
    """``data`` as text; YamlLimitError naming the line and byte of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlLimitError(
            f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from exc


def load_yaml(text: str | bytes, *, max_bytes: int = MAX_BYTES) -> Any:
    """Parse one YAML document safely, within the limits above. Raises YamlLimitError."""
    size = len(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise YamlLimitError(f"{size:,} bytes; more than the {max_bytes:,} a scenario may have")
    if isinstance(text, bytes):
        text = decode_utf8(text)
    loader: _LimitedLoader | None = None
    try:
        loader = _LimitedLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node)
        return loader.construct_document(node)
    except YamlLimitError:
        raise
    except yaml.reader.ReaderError as exc:  # a control character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        raise YamlLimitError(
            f"line {line}: character U+{exc.character:04X} is not allowed in YAML "
            "(write it escaped in a double-quoted string)") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlLimitError(f"{_where(mark) if mark else ''}not valid YAML ({problem})") from exc
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        # the constructors' own failures on odd scalars (e.g. a timestamp out of range)
        raise YamlLimitError(f"not usable YAML ({type(exc).__name__}: {exc})") from exc
    finally:
        if loader is not None:
            loader.dispose()
