"""How writes combine with stored objects: patches, server-side apply, label selectors.

- JSON merge patch (RFC 7386): dicts merge, `null` deletes, lists and scalars replace.
- Strategic merge patch: built-in types only (custom resources answer 415, as on a real
  server). Applied as a merge patch: lists are replaced, not merged by their patch keys,
  and `$patch`/`$retainKeys` directives are not understood.
- JSON patch (RFC 6902): add, remove, replace, move, copy, test.
- Server-side apply, simplified: each field manager owns the leaf paths of the config it
  last applied (lists are atomic leaves; list-map merging by key is not emulated). An apply
  (a) conflicts, unless forced, where another manager owns a leaf the config sets to a
  different value, (b) removes the leaves it owned before and no longer sets (unless another
  manager owns them too), (c) merges the config in. Forced conflicts move ownership to the
  applier. Updates (PUT, merge/JSON patch) give their manager the leaves they changed.
  `metadata.managedFields` is rendered from this bookkeeping.
- Label selectors: `=`, `==`, `!=`, `in (...)`, `notin (...)`, `key`, `!key`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

Path = tuple[str, ...]


class PatchError(Exception):
    """A patch that cannot be applied (the server answers 422 or 400)."""


# --- JSON merge patch ---------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- JSON patch ---------------------------------------------------------------------------


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, path)[0]
        elif kind == "replace":
            doc = _add(_remove(doc, path)[0], path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                doc = _remove(doc, source)[0]
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"test operation failed at {op['path']}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise PatchError(f"invalid JSON pointer {text!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _get(doc: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise PatchError(f"path /{'/'.join(path)} not found")
    return doc


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"invalid array index {last!r}")
    else:
        raise PatchError(f"cannot add at /{'/'.join(path)}")
    return doc


def _remove(doc: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        raise PatchError("cannot remove the whole document")
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise PatchError(f"path /{'/'.join(path)} not found")


# --- server-side apply --------------------------------------------------------------------

# Never owned or removed by apply: identity and server-managed metadata.
_UNOWNED = {
    ("apiVersion",),
    ("kind",),
    ("metadata", "name"),
    ("metadata", "namespace"),
    ("metadata", "uid"),
    ("metadata", "resourceVersion"),
    ("metadata", "generation"),
    ("metadata", "creationTimestamp"),
    ("metadata", "managedFields"),
    ("metadata", "deletionTimestamp"),
}


def leaves(obj: Any, prefix: Path = ()) -> dict[Path, Any]:
    """Leaf paths of a config: non-empty dicts recurse; lists, scalars, {} are leaves."""
    result: dict[Path, Any] = {}
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            result.update(leaves(value, prefix + (str(key),)))
    elif prefix and prefix not in _UNOWNED:
        result[prefix] = obj
    return result


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return False, None
        obj = obj[part]
    return True, obj


def delete_path(obj: dict[str, Any], path: Path) -> None:
    """Delete a leaf and then any dicts it leaves empty (as apply does)."""
    parents: list[tuple[dict[str, Any], str]] = []
    node: Any = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return
        parents.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, key in reversed(parents):
        if parent[key] == {}:
            del parent[key]
        else:
            break


def deep_merge(base: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Config wins; dicts merge; lists and scalars replace. Nulls are skipped."""
    result = copy.deepcopy(base)
    for key, value in config.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(result.get(key), dict) and value:
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def fields_v1(paths: set[Path] | list[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


# --- label selectors ----------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(notin|in)\s*\(([^)]*)\)|(==|!=|=)\s*([A-Za-z0-9._-]*))?\s*$")


def parse_selector(text: str) -> list[tuple[str, str, list[str]]]:
    """`a=b,c in (x,y)` -> [(key, op, values)]; raises ValueError when malformed."""
    requirements: list[tuple[str, str, list[str]]] = []
    for part in _split_selector(text):
        if not part.strip():
            continue
        match = _SET_RE.match(part)
        if not match:
            raise ValueError(f"unable to parse requirement: {part!r}")
        negate, key, set_op, set_values, op, value = match.groups()
        if negate:
            if set_op or op:
                raise ValueError(f"unable to parse requirement: {part!r}")
            requirements.append((key, "!", []))
        elif set_op:
            requirements.append((key, set_op, [v.strip() for v in set_values.split(",") if v.strip()]))
        elif op:
            requirements.append((key, "!=" if op == "!=" else "=", [value]))
        else:
            requirements.append((key, "exists", []))
    return requirements


def _split_selector(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def selector_matches(requirements: list[tuple[str, str, list[str]]], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and value == values[0]:
            return False
        if op == "in" and (not present or value not in values):
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True
