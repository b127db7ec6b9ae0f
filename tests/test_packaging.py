"""The sandbox is an optional extra: a production install carries no simulator, and a
`--sandbox` command without the extra says how to install it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from tests.conftest import REPO

SIMULATOR = re.compile(r"^(moto|flask|werkzeug|docker)\b", re.IGNORECASE)


def test_base_install_pulls_no_simulator_and_the_extras_do() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if SIMULATOR.match(d)]
    extras = project["optional-dependencies"]
    assert any(d.startswith("moto[server]") for d in extras["sandbox"])
    assert "provisioner[sandbox]" in extras["test"]


# Runs the CLI in a child whose import system cannot find moto, as after `pip install .`.
_WITHOUT_MOTO = """
import sys
sys.modules["moto"] = None  # what an install without the extra looks like to the import system
from provisioner.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sandbox_command_without_the_extra_says_how_to_install_it_and_exits_1(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_MOTO, "plan", "dev", "--sandbox"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PROVISIONER_HOME": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert result.returncode == 1, result.stderr
    assert "pip install 'provisioner[sandbox]'" in result.stderr and "moto" in result.stderr
    assert not (tmp_path / "sandbox" / "sandbox.json").exists()  # nothing was started
