"""The small Helm template renderer the chart conformance tests use (tests/conformance/helm.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conformance import helm


def chart(tmp_path: Path, template: str, values: dict) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.yaml").write_text(template)
    (tmp_path / "values.yaml").write_text(yaml.safe_dump({"settings": {}, **values}))
    (tmp_path / "Chart.yaml").write_text("name: karpenter\nversion: 1.0.0\nappVersion: 1.0.0\n")
    return tmp_path


def test_with_else_range_trim_and_pipelines(tmp_path: Path) -> None:
    template = """kind: ConfigMap
metadata:
  name: {{ include "karpenter.fullname" . }}
data:
  {{- with .Values.missing }}
  never: {{ . }}
  {{- else }}
  fallback: {{ .Values.word | quote }}
  {{- end }}
  joined: "{{ join "," .Values.items }}"
  flag: "{{ .Values.off }}"
  {{- range .Values.items }}
  item-{{ . }}: "x"
  {{- end }}
  {{- if or .Values.missing .Values.word }}
  either: yes-{{ .Values.word }}
  {{- end }}
nested:
  {{- toYaml .Values.nested | nindent 2 }}
"""
    root = chart(
        tmp_path, template, {"word": "hi", "items": ["a", "b"], "off": False, "missing": {}, "nested": {"k": [1]}}
    )
    (obj,) = helm.render(root, "t.yaml", helm.values(root))
    assert obj == {
        "kind": "ConfigMap",
        "metadata": {"name": "karpenter"},
        "data": {"fallback": "hi", "joined": "a,b", "flag": "false", "item-a": "x", "item-b": "x", "either": "yes-hi"},
        "nested": {"k": [1]},
    }


@pytest.mark.parametrize(
    "template",
    [
        '{{ lookup "v1" "Secret" "" "" }}',
        "{{ if .Values.x }}unclosed",
        '{{ include "other.helper" . }}',
        "{{ tpl .Values.t . }}",
    ],
)
def test_what_it_does_not_understand_fails_loudly(tmp_path: Path, template: str) -> None:
    root = chart(tmp_path, template, {"x": True, "t": "{{ .Values.x }}"})
    with pytest.raises(helm.TemplateError):
        helm.render(root, "t.yaml", helm.values(root))
