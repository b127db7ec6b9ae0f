"""A small renderer for the Karpenter chart's Helm (Go) templates, so tests can read the RBAC
rules and the Deployment's defaults from the upstream files without helm.

It understands exactly the template language the chart's RBAC, Deployment, PDB, Service and
ServiceAccount templates use, and fails loudly on anything else (so an upstream change that
needs more is noticed, not silently mis-rendered):

- actions `{{ ... }}` with the trim markers `{{-` / `-}}` (whitespace, newlines included,
  removed before / after) and comments `{{/* */}}`;
- `if` / `with` (with `else`), `range` over a list, `end`; Go truthiness (false, 0, "",
  empty list or map and nil are false); `with` and `range` rebind `.`;
- pipelines `a | f x`: the value before `|` is the last argument of the function after it;
- values: `.Values.x.y`, `.Release.Namespace`, `.Chart.AppVersion`, fields of `.` (`.seccompProfile`),
  `$` / `$.Values...` for the root, string and number literals, `( ... )`, and `$_ := ...`
  (evaluated, discarded);
- functions: include/template, quote, toYaml, nindent, indent, join, tpl (its argument
  holds no template in the values used here, so it is the string), toString, required,
  default, or, and, not.

The named templates of `_helpers.tpl` are not parsed (they use sprig list and dict functions
beyond this renderer); `HELPERS` re-implements each one the rendered templates include, as
the helper file defines it, reading the same values. `check_helpers()` verifies the helper
file still defines exactly those names.

Render with `render(chart_dir, file, values, release_namespace)`; the values are the chart's
values.yaml with the settings a user must give (cluster name, queue) filled in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

RELEASE = "karpenter"

_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\(|\)|\||:=|[^\s()|]+')


class TemplateError(Exception):
    pass


# --- parsing ------------------------------------------------------------------------------


def _lex(text: str) -> list[tuple[str, str]]:
    """('text', s) and ('action', s) items, trim markers applied."""
    items: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(text):
        chunk = text[pos : match.start()]
        if trim_next:
            chunk = chunk.lstrip()
        if match.group(1):
            chunk = chunk.rstrip()
        items.append(("text", chunk))
        body = match.group(2).strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            items.append(("action", body))
        trim_next = bool(match.group(3))
        pos = match.end()
    tail = text[pos:]
    items.append(("text", tail.lstrip() if trim_next else tail))
    return items


def _parse(items: list[tuple[str, str]], pos: int = 0, stop: tuple[str, ...] = ()) -> tuple[list[Any], int, str | None]:
    """A list of nodes until one of `stop` ('end', 'else'); returns (nodes, next position, stopper)."""
    nodes: list[Any] = []
    while pos < len(items):
        kind, body = items[pos]
        pos += 1
        if kind == "text":
            nodes.append(("text", body))
            continue
        word = body.split(None, 1)[0] if body else ""
        if word in ("end", "else"):
            if word not in stop:
                raise TemplateError(f"unexpected {{{{ {body} }}}}")
            return nodes, pos, word
        if word in ("if", "with", "range"):
            expression = body[len(word) :].strip()
            inner, pos, stopper = _parse(items, pos, ("end", "else") if word != "range" else ("end",))
            otherwise: list[Any] = []
            if stopper == "else":
                otherwise, pos, stopper = _parse(items, pos, ("end",))
            if stopper != "end":
                raise TemplateError(f"{{{{ {body} }}}} is not closed")
            nodes.append((word, expression, inner, otherwise))
        elif word in ("define", "block", "else if", "template_define"):
            raise TemplateError(f"unsupported action {{{{ {body} }}}}")
        else:
            nodes.append(("action", body))
    if stop:
        raise TemplateError(f"missing {{{{ end }}}} (wanted {stop})")
    return nodes, pos, None


# --- evaluation ---------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def go_string(value: Any) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n").removesuffix("\n...")


class _Renderer:
    def __init__(self, root: dict[str, Any]):
        self.root = root
        self.functions: dict[str, Callable[..., Any]] = {
            "include": self.include,
            "template": self.include,
            "quote": lambda v: '"' + go_string(v).replace('"', '\\"') + '"',
            "toYaml": to_yaml,
            "nindent": lambda n, s: "\n" + _indent(int(n), s),
            "indent": lambda n, s: _indent(int(n), s),
            "join": lambda sep, items: sep.join(go_string(i) for i in items),
            "tpl": lambda text, _ctx: self._tpl(text),
            "toString": go_string,
            "required": self._required,
            "default": lambda fallback, value=None: value if truthy(value) else fallback,
            "or": lambda *values: next((v for v in values if truthy(v)), values[-1]),
            "and": lambda *values: next((v for v in values if not truthy(v)), values[-1]),
            "not": lambda value: not truthy(value),
        }

    @staticmethod
    def _required(message: str, value: Any) -> Any:
        if not truthy(value):
            raise TemplateError(f"required: {message}")
        return value

    def _tpl(self, text: Any) -> str:
        text = go_string(text)
        if "{{" in text:
            raise TemplateError(f"tpl with a template in its value is not supported: {text!r}")
        return text

    def include(self, name: str, context: Any) -> str:
        if name not in HELPERS:
            raise TemplateError(f"helper {name} is not re-implemented in tests/conformance/helm.py")
        return HELPERS[name](self.root)

    def render(self, nodes: list[Any], dot: Any) -> str:
        out: list[str] = []
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                if ":=" in node[1]:
                    self.evaluate(node[1].split(":=", 1)[1], dot)
                else:
                    out.append(go_string(self.evaluate(node[1], dot)))
            elif kind == "if":
                out.append(self.render(node[2] if truthy(self.evaluate(node[1], dot)) else node[3], dot))
            elif kind == "with":
                value = self.evaluate(node[1], dot)
                out.append(self.render(node[2], value) if truthy(value) else self.render(node[3], dot))
            elif kind == "range":
                for item in self.evaluate(node[1], dot) or []:
                    out.append(self.render(node[2], item))
        return "".join(out)

    # pipelines --------------------------------------------------------------------------

    def evaluate(self, text: str, dot: Any) -> Any:
        tokens = _TOKEN.findall(text)
        value, rest = self._pipeline(tokens, dot)
        if rest:
            raise TemplateError(f"cannot parse {text!r}")
        return value

    def _pipeline(self, tokens: list[str], dot: Any) -> tuple[Any, list[str]]:
        value, tokens = self._command(tokens, dot, None)
        while tokens and tokens[0] == "|":
            value, tokens = self._command(tokens[1:], dot, (value,))
        return value, tokens

    def _command(self, tokens: list[str], dot: Any, piped: tuple[Any, ...] | None) -> tuple[Any, list[str]]:
        args: list[Any] = []
        function: str | None = None
        if tokens and tokens[0] in self.functions:
            function, tokens = tokens[0], tokens[1:]
        while tokens and tokens[0] not in ("|", ")"):
            if tokens[0] == "(":
                value, tokens = self._pipeline(tokens[1:], dot)
                if not tokens or tokens[0] != ")":
                    raise TemplateError("unbalanced parenthesis")
                tokens = tokens[1:]
                args.append(value)
            else:
                args.append(self._operand(tokens[0], dot))
                tokens = tokens[1:]
        if piped:
            args.extend(piped)
        if function is None:
            if len(args) != 1:
                raise TemplateError(f"a value cannot take arguments: {args!r}")
            return args[0], tokens
        return self.functions[function](*args), tokens

    def _operand(self, token: str, dot: Any) -> Any:
        if token.startswith('"'):
            return bytes(token[1:-1], "utf-8").decode("unicode_escape")
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token == ".":
            return dot
        if token == "$":
            return self.root
        if token.startswith("$."):
            return _field(self.root, token[2:])
        if token.startswith("."):
            return _field(dot, token[1:])
        raise TemplateError(f"unknown function or value {token!r}")


def _field(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict):
            raise TemplateError(f"cannot read .{part} of {value!r}")
        value = value.get(part)
    return value


def _indent(n: int, text: str) -> str:
    return "\n".join((" " * n + line) if line else line for line in go_string(text).split("\n"))


# --- the chart's helpers, re-implemented ------------------------------------------------------


def _name(root: dict[str, Any]) -> str:
    return (root["Values"].get("nameOverride") or root["Chart"]["Name"])[:63].rstrip("-")


def _fullname(root: dict[str, Any]) -> str:
    values = root["Values"]
    if values.get("fullnameOverride"):
        return values["fullnameOverride"][:63].rstrip("-")
    name = values.get("nameOverride") or root["Chart"]["Name"]
    release = root["Release"]["Name"]
    return (release if name in release else f"{release}-{name}")[:63].rstrip("-")


def _selector_labels(root: dict[str, Any]) -> str:
    return f"app.kubernetes.io/name: {_name(root)}\napp.kubernetes.io/instance: {root['Release']['Name']}"


def _labels(root: dict[str, Any]) -> str:
    chart = f"{root['Chart']['Name']}-{root['Chart']['Version']}".replace("+", "_")[:63].rstrip("-")
    lines = [f"helm.sh/chart: {chart}", _selector_labels(root)]
    if root["Chart"].get("AppVersion"):
        lines.append(f'app.kubernetes.io/version: "{root["Chart"]["AppVersion"]}"')
    lines.append(f"app.kubernetes.io/managed-by: {root['Release']['Service']}")
    if root["Values"].get("additionalLabels"):
        lines.append(to_yaml(root["Values"]["additionalLabels"]))
    return "\n".join(lines)


def _service_account_name(root: dict[str, Any]) -> str:
    account = root["Values"]["serviceAccount"]
    if account.get("create"):
        return account.get("name") or _fullname(root)
    return account.get("name") or "default"


def _image(root: dict[str, Any]) -> str:
    image = root["Values"]["controller"]["image"]
    tag = image.get("tag") or root["Chart"]["AppVersion"]
    if image.get("digest"):
        return f"{image['repository']}:{tag}@{image['digest']}"
    return f"{image['repository']}:{tag}"


def _patch_label_selector(root: dict[str, Any], target: dict[str, Any]) -> None:
    if "labelSelector" not in target:
        target["labelSelector"] = {"matchLabels": yaml.safe_load(_selector_labels(root))}


def _patch_pod_affinity(root: dict[str, Any], affinity: dict[str, Any]) -> None:
    for term in affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        _patch_label_selector(root, term)
    for weighted in affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
        _patch_label_selector(root, weighted["podAffinityTerm"])


def _patch_affinity(root: dict[str, Any]) -> str:
    affinity = root["Values"]["affinity"]
    for key in ("podAffinity", "podAntiAffinity"):
        if key in affinity:
            _patch_pod_affinity(root, affinity[key])
    return ""


def _patch_topology(root: dict[str, Any]) -> str:
    for constraint in root["Values"]["topologySpreadConstraints"] or []:
        _patch_label_selector(root, constraint)
    return ""


HELPERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "karpenter.name": _name,
    "karpenter.fullname": _fullname,
    "karpenter.labels": _labels,
    "karpenter.selectorLabels": _selector_labels,
    "karpenter.serviceAccountName": _service_account_name,
    "karpenter.controller.image": _image,
    "karpenter.controller.containerName": lambda root: (
        root["Values"]["controller"].get("containerName") or "controller"
    ),
    "karpenter.pdb.apiVersion": lambda root: "policy/v1",  # the helper's answer on any Kubernetes >= 1.21
    "karpenter.patchAffinity": _patch_affinity,
    "karpenter.patchTopologySpreadConstraints": _patch_topology,
}


def check_helpers(chart: Path) -> None:
    """The helper file defines every helper re-implemented here (and, of those the
    re-implementation depends on, nothing was renamed)."""
    defined = set(re.findall(r'define "([^"]+)"', (chart / "templates" / "_helpers.tpl").read_text()))
    missing = set(HELPERS) - defined
    if missing:
        raise TemplateError(f"_helpers.tpl no longer defines {sorted(missing)}")


# --- entry point --------------------------------------------------------------------------


def values(chart: Path, **settings: Any) -> dict[str, Any]:
    """The chart's values.yaml with `settings.<name>` set (clusterName, interruptionQueue...)."""
    data = yaml.safe_load((chart / "values.yaml").read_text())
    data["settings"].update(settings)
    return data


def render(
    chart: Path, file: str, chart_values: dict[str, Any], namespace: str = "kube-system"
) -> list[dict[str, Any]]:
    """The objects one template file renders to with these values (release `karpenter`)."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    root = {
        "Values": chart_values,
        "Release": {"Name": RELEASE, "Namespace": namespace, "Service": "Helm"},
        "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta.get("appVersion")},
    }
    nodes, _, _ = _parse(_lex((chart / "templates" / file).read_text()))
    text = _Renderer(root).render(nodes, root)
    return [obj for obj in yaml.safe_load_all(text) if obj]
