"""Questions to the person at the terminal. Prompts go to stderr, so `--output json` keeps
stdout one JSON document; with several plans at once, one question at a time."""

from __future__ import annotations

import sys
import threading

_PROMPT_LOCK = threading.Lock()  # several plans at once: one question at a time


def is_terminal() -> bool:
    return bool(sys.stdin and sys.stdin.isatty())


def ask(prompt: str) -> str:
    with _PROMPT_LOCK:
        print(prompt, end="", file=sys.stderr, flush=True)
        return sys.stdin.readline().strip()


def ask_if_terminal(prompt: str) -> str | None:
    """The answer, or None when there is no terminal to ask (CI: the flags must say it)."""
    return ask(prompt) if is_terminal() else None


def confirm(prompt: str, expected: str) -> bool:
    """True when the answer is `expected` (`yes`, or a name typed back); never without a terminal."""
    if not is_terminal():
        return False
    return ask(prompt) == expected
