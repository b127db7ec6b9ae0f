"""Reading plan YAML defensively, keeping the line of every value.

PyYAML's safe loader is safe against code execution, not against size: an alias bomb
("billion laughs") is a tiny file whose expanded tree has billions of nodes, and PyYAML
silently keeps the last of two duplicate keys. So we compose the node graph ourselves and
check, before building any Python object:

- the file size (plans are a few KiB; anything over MAX_FILE_BYTES is refused unread);
- the nesting depth;
- the expanded size, counting every alias as a full copy of what it points to (memoised,
  so a bomb is measured without being expanded);
- duplicate mapping keys;
- characters nobody types into a plan on purpose: invisible and direction-changing ones
  (zero-width spaces, RIGHT-TO-LEFT OVERRIDE: text that reads differently than it is, the
  "Trojan Source" trick), control characters, and words that mix Latin with Cyrillic or
  Greek letters (homoglyphs: `сidr` with a Cyrillic `с` is not `cidr`);
- numbers YAML 1.1 reads in a surprising way (`0x10`, `010` octal, `1:30` base 60,
  `1_000`) and integers too long to be any plan value.

While walking we record the line of every value by its path (("network", "cidr") -> 12), so
validation errors can name the line even though pydantic only knows the path.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_EXPANDED_NODES = 20_000
# No plan value needs more digits (the largest are byte counts and 12-digit account ids,
# which are strings); longer integers are refused before Python converts them.
MAX_INT_DIGITS = 30
_DECIMAL_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK"})

Path = tuple[str | int, ...]


class YamlProblem(Exception):
    """The file cannot be read as a plan document at all."""

    def __init__(self, message: str, line: int | None = None, path: Path = ()):
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path


@dataclass
class LoadedYaml:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    # The text of each scalar as written (`1.30`, not the float 1.3), for error hints.
    source: dict[Path, str] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


# Documents read before, by their text: PyYAML's scanner is pure Python (~20 ms for a plan),
# and one process reads the same plan files again and again (an estate run reads each
# environment's plan for the others' references; the tests load them hundreds of times). A
# copy is handed out each time, so no caller sees another's changes; a refused text is never
# remembered (it is refused again, the same way).
_loaded: dict[tuple[str | bytes, int], LoadedYaml] = {}
_LOADED_MAX = 64


def load_yaml(text: str | bytes, size: int | None = None) -> LoadedYaml:
    """Parse one YAML document into plain data plus a path -> line map. `size` is the whole
    file's size when the caller read only its beginning."""
    key = (text, size or 0)
    known = _loaded.get(key)
    if known is None:
        known = _load_yaml(text, size)
        if len(_loaded) >= _LOADED_MAX:
            _loaded.clear()
        _loaded[key] = known
    return LoadedYaml(data=copy.deepcopy(known.data), lines=dict(known.lines), source=dict(known.source))


def _load_yaml(text: str | bytes, size: int | None) -> LoadedYaml:
    size = max(size or 0, len(text))
    if size > MAX_FILE_BYTES:
        raise YamlProblem(f"file is {size:,} bytes; plan files may be at most {MAX_FILE_BYTES:,} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlProblem(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    _check_characters(text)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problem = exc.problem or str(exc)
        raise YamlProblem(f"not valid YAML: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {exc}") from None
    except RecursionError:
        # PyYAML's composer recurses per nesting level; a few hundred `[` exhaust the stack
        # before our own depth check could run.
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels") from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise YamlProblem("the file is empty; a plan file is a YAML mapping with at least `kind`")
    if len(nodes) > 1:
        raise YamlProblem("the file holds several YAML documents; a plan file holds one", _line(nodes[1]))
    root = nodes[0]
    _check_size(root)
    loaded = LoadedYaml(data=None)
    # A fresh constructor per document: its object cache must not outlive the load.
    constructor = yaml.SafeLoader("")
    loaded.data = _build(root, (), loaded, constructor)
    return loaded


def _describe(char: str) -> str:
    name = unicodedata.name(char, "") or ("NULL" if char == "\0" else "a control character")
    return f"U+{ord(char):04X} ({name})"


def _check_characters(text: str) -> None:
    """Refuse control and invisible format characters anywhere in the file (comments too:
    a bidi override in a comment can make the line after it read differently). A byte order
    mark at the very start is allowed; YAML permits it."""
    for index, char in enumerate(text):
        if char in "\t\n\r" or (index == 0 and char == "\ufeff"):
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs"):
            line = text.count("\n", 0, index) + 1
            raise YamlProblem(
                f"the file contains the invisible or control character {_describe(char)}; "
                "plan files may hold only visible characters, spaces, tabs and line breaks",
                line,
            )


def _check_text(value: str, node: yaml.Node, path: Path) -> None:
    """Escapes in quoted strings (`"\\u202e"`, `"\\0"`) reach the value without being in the
    file's text; and a word mixing Latin with Cyrillic or Greek letters is a homoglyph."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs"):
            raise YamlProblem(
                f"{value!r:.80} contains the invisible or control character {_describe(char)}", _line(node), path
            )
    for word in re.findall(r"\w+", value):
        scripts = {unicodedata.name(c, "").split(" ", 1)[0] for c in word if c.isalpha()} & _CONFUSABLE_SCRIPTS
        if len(scripts) > 1:
            odd = next(c for c in word if c.isalpha() and not unicodedata.name(c, "").startswith("LATIN"))
            raise YamlProblem(
                f"{word!r} mixes {' and '.join(sorted(s.title() for s in scripts))} letters "
                f"({_describe(odd)} looks like a Latin letter); retype it",
                _line(node),
                path,
            )


def _check_size(root: yaml.Node) -> None:
    """Refuse trees whose alias-expanded size is too large, without expanding them."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", _line(node))
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in visiting:
            raise YamlProblem("an alias refers to the node that contains it", _line(node))
        visiting.add(id(node))
        total = 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                total += size(key, depth + 1) + size(value, depth + 1)
                if total > MAX_EXPANDED_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
                if total > MAX_EXPANDED_NODES:
                    break
        visiting.discard(id(node))
        if total > MAX_EXPANDED_NODES:
            raise YamlProblem(
                f"the document expands to more than {MAX_EXPANDED_NODES:,} values "
                "(anchors and aliases counted as copies); is it an alias bomb?",
                _line(node),
            )
        sizes[id(node)] = total
        return total

    size(root, 0)


def _build(node: yaml.Node, path: Path, loaded: LoadedYaml, constructor: yaml.SafeLoader) -> Any:
    loaded.lines.setdefault(path, _line(node))
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem("merge keys (`<<`) are not supported in plan files", _line(key_node), path)
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("a mapping key must be a plain value", _line(key_node), path)
            key = _scalar(key_node, path, constructor)
            child = path + (str(key),)
            if isinstance(key, str):
                _check_text(key, key_node, child)
            if key in result:
                raise YamlProblem(f"duplicate key {key!r}", _line(key_node), child)
            loaded.lines[child] = _line(key_node)
            result[key] = _build(value_node, child, loaded, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (index,), loaded, constructor) for index, item in enumerate(node.value)]
    loaded.source[path] = node.value
    value = _scalar(node, path, constructor)
    if isinstance(value, str):
        _check_text(value, node, path)
    return value


def _scalar(node: yaml.Node, path: Path, constructor: yaml.SafeLoader) -> Any:
    """PyYAML's safe constructor resolves ints, bools, floats and dates; explicit tags it
    does not know (`!custom`, `!!python/object`) or cannot apply (`!!int two`) are errors."""
    if node.tag == "tag:yaml.org,2002:int":
        text = node.value.strip()
        if not _DECIMAL_INT.fullmatch(text):
            # YAML 1.1 (PyYAML) reads 0x10 as 16, 010 as 8 and 1:30 as 90: nobody means that.
            return _refuse_number(node, path, text)
        if len(text.lstrip("+-")) > MAX_INT_DIGITS:
            raise YamlProblem(
                f"an integer of {len(text.lstrip('+-')):,} digits is out of range for any plan value", _line(node), path
            )
    try:
        return constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, AttributeError) as exc:
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlProblem(f"cannot read value tagged {node.tag}: {reason}", _line(node), path) from None


def _refuse_number(node: yaml.Node, path: Path, text: str) -> Any:
    form = (
        "hexadecimal"
        if "x" in text.lower()
        else "base 60 (sexagesimal)"
        if ":" in text
        else "with digit separators"
        if "_" in text
        else "octal"
        if text.lstrip("+-").startswith("0")
        else "non-decimal"
    )
    raise YamlProblem(
        f"{text!r:.40} is a {form} number in YAML 1.1, not what it looks like; "
        "write the number in plain decimal digits, or quote it for text",
        _line(node),
        path,
    )
