"""The plan files loaded in this process, each with its line index, so that findings made
after loading (baseline.py) can still name the line a field is on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioner.planfile.yamlsafe import LoadedYaml

LOADED: dict[Path, LoadedYaml] = {}


def line_lookup(path: Any) -> Callable[[tuple[Any, ...]], int | None]:
    """`line_of(field_path)` for a loaded file; one answering None for any other path."""
    loaded = LOADED.get(path)
    return loaded.line_of if loaded is not None else (lambda _path: None)
