"""Independent calls of one node at once: reads that do not need each other's answers, or
deletes of sibling resources. Each call is a round trip to AWS (100-300 ms), so a node that
makes ten of them one after another waits ten round trips where one would do.

Each call runs on a thread of its own with a copy of the node's context (`current_key`, so
the journal still names the node that made a call). Answers come back in the order asked;
when calls fail, the first one's error is raised, after every call has ended, so nothing of
the node is still running once it has failed.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# AWS's per-account request rates (EC2: 20 reads a second sustained) leave room for a few
# calls of a node at once; more would only queue behind the other nodes' calls.
MAX_AT_ONCE = 8


def gather(*calls: Callable[[], Any]) -> list[Any]:
    """Run `calls` at the same time; their answers, in order."""
    if len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(len(calls), MAX_AT_ONCE), thread_name_prefix="gather") as pool:
        futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
    for future in futures:  # every call has ended: leaving the pool waited for them
        error = future.exception()
        if error is not None:
            raise error
    return [future.result() for future in futures]
