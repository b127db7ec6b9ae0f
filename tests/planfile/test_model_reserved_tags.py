"""Plan tags may not set the ownership tags the tool writes itself (SPEC section 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.planfile import PlanFileError, load_plan

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("key", ["provisioner:plan", "provisioner:key", "ManagedBy"])
def test_a_plan_cannot_set_an_ownership_tag(tmp_path: Path, key: str) -> None:
    text = (REPO / "plans" / "dev.yaml").read_text()
    assert "\ntags:\n" in text
    (tmp_path / "dev.yaml").write_text(text.replace("\ntags:\n", f'\ntags:\n  "{key}": prod\n', 1))
    with pytest.raises(PlanFileError) as raised:
        load_plan("dev", tmp_path)
    assert "ownership tags provisioner sets itself" in str(raised.value) and "dev.yaml:" in str(raised.value)
