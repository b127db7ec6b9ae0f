"""Where provisioner keeps its local files.

Everything local lives under one home directory: run journals (`runs/`), local locks
(`locks/`) and the sandbox's state (`sandbox/`). It is `$PROVISIONER_HOME` when set,
otherwise `.provisioner/` in the current directory, the way Terraform keeps `.terraform/`
beside the configuration. Nothing here is needed for correctness: AWS itself, read by tags,
is the state.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The provisioner home directory (created on first use)."""
    path = Path(os.environ.get("PROVISIONER_HOME") or ".provisioner").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(*parts: str) -> Path:
    """A directory below the home, created on first use."""
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
