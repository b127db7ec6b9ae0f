"""What botocore rebuilds for every session and client that is the same for the whole process,
built once: the data loader (parsed service models), client classes, the built-in event
handlers, endpoint rule sets, the event-handler trie each client copies, and the event
names' aliases.

The tool makes a session per account and per assumed role and a client per service, region
and purpose; the tests make thousands. botocore's own work per client (~25 ms of CPU, most of
it rebuilding these) was a tenth of the test suite's CPU. Each piece keeps botocore's
behaviour: what a session or client registers stays its own.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import botocore
import botocore.client
import botocore.endpoint_provider
import botocore.hooks
import botocore.loaders
import botocore.regions
import botocore.session

_lock = threading.Lock()
_shared_loader: Any = None


def shared_loader() -> Any:
    """One botocore data loader per process: service models (EC2's is megabytes of JSON) are
    parsed once, not once per session."""
    global _shared_loader
    with _lock:
        if _shared_loader is None:
            _shared_loader = botocore.loaders.create_loader()
        return _shared_loader


_builtin_events: Any = None
_client_classes: dict[tuple[str, str], type] = {}


def _reuse_client_classes() -> None:
    """botocore builds a client's class anew for every client: a method per operation and
    the name mappings (EC2: ~700 operations, ~60 ms of CPU), then emits
    `creating-client-class` for handlers to add methods. The classes of one service and API
    version are the same for every session of this process (their handlers are botocore's and
    boto3's built-ins; the tool registers none), so each is built once. Instances still get
    their own endpoint, credentials, config and event hooks."""
    original = botocore.client.ClientCreator._create_client_class
    if getattr(original, "_provisioner", False):
        return

    def create_client_class(self: Any, service_name: str, service_model: Any) -> type:
        key = (service_name, str(service_model.api_version))
        with _lock:
            cls = _client_classes.get(key)
        if cls is None:
            cls = original(self, service_name, service_model)
            with _lock:
                cls = _client_classes.setdefault(key, cls)
        return cls

    create_client_class._provisioner = True  # type: ignore[attr-defined]
    botocore.client.ClientCreator._create_client_class = create_client_class


_default_alias_names: dict[str, str] = {}


def _share_event_alias_names() -> None:
    """botocore rewrites every event name through its aliases (old service names to new:
    `request-created.apigateway...`), splitting the name once per alias (~40) the first time an
    aliaser sees it, and caches the answer per aliaser. Each session and each client has its
    own aliaser, with a new cache, so every client paid the loop again for every event of
    every call: ~7% of the test suite's CPU. The answer depends only on the aliases, which
    botocore never changes after it builds an aliaser; aliasers with botocore's default
    aliases share one cache (a dict: its reads and writes are atomic under the GIL)."""
    aliaser = botocore.hooks.EventAliaser
    if getattr(aliaser.__init__, "_provisioner", False):
        return
    original_init = aliaser.__init__

    def init(self: Any, event_emitter: Any, event_aliases: Any = None) -> None:
        original_init(self, event_emitter, event_aliases)
        if self._event_aliases is botocore.hooks.EVENT_ALIASES:
            self._alias_name_cache = _default_alias_names

    def copy_aliaser(self: Any) -> Any:  # botocore copies the aliases too; nothing changes them
        return type(self)(copy.copy(self._emitter), self._event_aliases)

    init._provisioner = True  # type: ignore[attr-defined]
    aliaser.__init__ = init
    aliaser.__copy__ = copy_aliaser


_rule_sets: dict[tuple[int, int], tuple[Any, Any, Any]] = {}


class _SharedRuleSetProvider(botocore.endpoint_provider.EndpointProvider):
    """botocore parses a service's endpoint rule set into rule objects for every client (KMS's
    and STS's: thousands of rules, ~10 ms of CPU each time). With the one data loader, a
    service's rule set is the same dict for every client of the process, so its parsed form
    is too: it is read-only once built. Resolution results stay cached per client, as botocore
    does."""

    def __init__(self, ruleset_data: Any, partition_data: Any, excluded_params: Any = None) -> None:
        key = (id(ruleset_data), id(partition_data))
        with _lock:
            known = _rule_sets.get(key)
        if known is not None and known[0] is ruleset_data and known[1] is partition_data:
            self.ruleset = known[2]
            self._excluded_params = excluded_params or frozenset()
            return
        super().__init__(ruleset_data, partition_data, excluded_params)
        with _lock:  # the data is kept with it, so an id is never reused for other data
            _rule_sets[key] = (ruleset_data, partition_data, self.ruleset)


def botocore_session(session_vars: dict[str, Any] | None = None) -> botocore.session.Session:
    """A botocore session whose event hooks start as a copy of botocore's built-in handlers,
    registered once per process. Registering them checks each of ~130 handlers' signature
    with `inspect` (~40 ms of CPU per session); the tool makes a session per account and per
    assumed role, the tests hundreds. The copy is the session's own: what it registers later
    (call counting, journaling) stays its own. With initializers registered on botocore
    (third-party instrumentation), their handlers would be copied and registered again, so
    sessions are then built the ordinary way."""
    global _builtin_events
    _reuse_client_classes()  # here, not at import: importing the module patches nothing
    _share_event_alias_names()
    botocore.regions.EndpointProvider = _SharedRuleSetProvider
    if getattr(botocore, "_INITIALIZERS", True):  # unknown (another botocore): the ordinary way
        return botocore.session.Session(session_vars=session_vars)
    with _lock:
        if _builtin_events is None:
            template = botocore.session.Session(include_builtin_handlers=False)
            template._register_builtin_handlers(template._events)
            _builtin_events = template._original_handler
            # From here on every copy (per session, then per client) shares the nodes.
            _builtin_events._handlers = _CopyOnWriteTrie(_builtin_events._handlers._root)
        events = copy.copy(_builtin_events)
    return botocore.session.Session(session_vars=session_vars, event_hooks=events, include_builtin_handlers=False)


class _CopyOnWriteTrie(botocore.hooks._PrefixTrie):
    """botocore's trie of event handlers, copied in O(1): copies share their nodes, and a write
    copies the nodes on its path from the root first, so no node another copy can see is ever
    changed. Every client copies its session's handlers (~200 nodes, ~5 ms of CPU with
    botocore's deep copy), then registers a few of its own. Reads walk from `_root`, which is
    replaced in one assignment, so a reader in another thread sees the trie before or after."""

    def __init__(self, root: dict[str, Any] | None = None) -> None:
        self._root = root if root is not None else {"chunk": None, "children": {}, "values": None}

    def __copy__(self) -> _CopyOnWriteTrie:
        return _CopyOnWriteTrie(self._root)

    def _path_copy(self, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A new root whose nodes along `key` are copies (made where missing); returns it and
        the path's nodes, root first."""
        root = _copy_node(self._root)
        path = [root]
        for part in key.split("."):
            child = path[-1]["children"].get(part)
            child = {"chunk": part, "values": None, "children": {}} if child is None else _copy_node(child)
            path[-1]["children"][part] = child
            path.append(child)
        return root, path

    def append_item(self, key: str, value: Any, section: int = botocore.hooks._MIDDLE) -> None:
        root, path = self._path_copy(key)
        leaf = path[-1]
        leaf["values"] = (
            copy.copy(leaf["values"]) if leaf["values"] is not None else botocore.hooks.NodeList([], [], [])
        )
        leaf["values"][section].append(value)
        self._root = root

    def remove_item(self, key: str, value: Any) -> None:
        root, path = self._path_copy(key)
        leaf = path[-1]
        if leaf["values"] is None:
            raise ValueError(f"key is not in trie: {key}")
        leaf["values"] = copy.copy(leaf["values"])
        for section in (leaf["values"].first, leaf["values"].middle, leaf["values"].last):
            if value in section:
                section.remove(value)
                break
        # As botocore does: a node left without handlers or children is unlinked.
        parts = key.split(".")
        for depth in range(len(parts), 0, -1):
            node = path[depth]
            if node["children"] or node["values"]:
                break
            del path[depth - 1]["children"][parts[depth - 1]]
        self._root = root


def _copy_node(node: dict[str, Any]) -> dict[str, Any]:
    return {"chunk": node["chunk"], "values": node["values"], "children": dict(node["children"])}
