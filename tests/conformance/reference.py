"""Karpenter's official v1.14.1 files as the tests' oracle (read from ../shared, never copied).

- `template()`: the getting-started CloudFormation, parsed with a YAML loader that knows the
  short forms the template uses (`!Sub`, `!Ref`, `!GetAtt`) and substituted the way
  CloudFormation would for the given parameters: `${AWS::Partition}`, `${AWS::Region}`,
  `${AWS::AccountId}`, `${AWS::URLSuffix}`, `${ClusterName}` and the two attributes the
  policies name (`${KarpenterNodeRole.Arn}`, `${KarpenterInterruptionQueue.Arn}`). Policy
  documents the template writes as JSON strings (`!Sub |`) are parsed after substitution.
- `CHART`: the chart directory (helm.py renders it).

`require_reference()` skips the calling test with a clear reason when ../shared is absent
(CI has it); nothing else skips.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

VERSION = "1.14.1"
ROOT = REPO.parent / "shared" / "karpenter-reference" / f"v{VERSION}"
TEMPLATE = ROOT / "cloudformation.yaml"
CHART = ROOT / "chart"


def require_reference() -> Path:
    if not TEMPLATE.is_file() or not (CHART / "values.yaml").is_file():
        pytest.skip(f"Karpenter's official reference files are absent ({ROOT}): the conformance tests need ../shared")
    return ROOT


class _Tag:
    def __init__(self, tag: str, value: Any):
        self.tag, self.value = tag, value


class _Loader(yaml.SafeLoader):
    pass


for _name in ("Sub", "Ref", "GetAtt"):
    _Loader.add_constructor(f"!{_name}", lambda loader, node, n=_name: _Tag(n, loader.construct_scalar(node)))  # type: ignore[misc]


def template(params: dict[str, str]) -> dict[str, Any]:
    """The template's Resources with every intrinsic replaced by its value for `params`
    (keys as the template writes them: `AWS::Partition`, `ClusterName`, `KarpenterNodeRole.Arn`...)."""
    document = yaml.load(TEMPLATE.read_text(), Loader=_Loader)

    def sub(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in params:
                raise KeyError(f"template parameter {name} has no value in the test")
            return params[name]

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def walk(value: Any) -> Any:
        if isinstance(value, _Tag):
            if value.tag == "Sub":
                text = sub(value.value)
                return json.loads(text) if text.lstrip().startswith("{") else text
            if value.tag == "GetAtt":
                return params[value.value]
            return params[f"Ref:{value.value}"]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(document["Resources"])


def substitute(value: Any, params: dict[str, str]) -> Any:
    """`${...}` parameters in a deliberate difference's value (policies.DIFFERENCES), as in the template."""
    if isinstance(value, str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: params[m.group(1)], value)
    if isinstance(value, dict):
        return {k: substitute(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, params) for v in value]
    return value
