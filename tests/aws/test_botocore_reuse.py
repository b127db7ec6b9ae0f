"""What botocore builds once per process (aws/botocore_reuse.py) behaves as botocore's own."""

from __future__ import annotations

import copy
import random

import pytest
from botocore.hooks import _FIRST, _LAST, _MIDDLE, HierarchicalEmitter, _PrefixTrie

from provisioner.aws.botocore_reuse import _CopyOnWriteTrie, botocore_session

KEYS = ["a", "a.b", "a.b.c", "a.*.c", "x.y", "before-call.ec2", "before-call.ec2.DescribeVpcs", "before-call.*"]
LOOKUPS = [*KEYS, "a.q.c", "a.b.c.d", "provisioner-test.ec2.Thing", "before-call.s3.GetObject", "zz"]


def _same(mine: _CopyOnWriteTrie, botocores: _PrefixTrie) -> None:
    for key in LOOKUPS:
        assert list(mine.prefix_search(key)) == list(botocores.prefix_search(key)), key


@pytest.mark.parametrize("seed", range(20))
def test_copy_on_write_trie_answers_as_botocores_and_copies_stay_independent(seed: int) -> None:
    rng = random.Random(seed)
    mine, botocores = _CopyOnWriteTrie(), _PrefixTrie()
    copies: list[tuple[_CopyOnWriteTrie, _PrefixTrie]] = []
    registered: list[tuple[str, str]] = []
    for step in range(60):
        if registered and rng.random() < 0.3:
            key, value = registered.pop(rng.randrange(len(registered)))
            mine.remove_item(key, value)
            botocores.remove_item(key, value)
        else:
            key, value, section = rng.choice(KEYS), f"handler-{step}", rng.choice([_FIRST, _MIDDLE, _LAST])
            mine.append_item(key, value, section)
            botocores.append_item(key, value, section)
            registered.append((key, value))
        _same(mine, botocores)
        if rng.random() < 0.2:
            copies.append((copy.copy(mine), copy.copy(botocores)))
    for my_copy, their_copy in copies:  # each copy still holds what it held when it was made
        _same(my_copy, their_copy)
        my_copy.append_item("a.b", "only-in-the-copy")
        their_copy.append_item("a.b", "only-in-the-copy")
        _same(my_copy, their_copy)
    _same(mine, botocores)  # ... and the original never saw the copies' writes
    assert "only-in-the-copy" not in mine.prefix_search("a.b")


def test_sessions_share_the_built_in_handlers_but_not_what_each_registers() -> None:
    first, second = botocore_session(), botocore_session()
    calls: list[str] = []
    first.register("provisioner-test.sts", lambda **_: calls.append("first"))
    first.get_component("event_emitter").emit("provisioner-test.sts.GetCallerIdentity")
    second.get_component("event_emitter").emit("provisioner-test.sts.GetCallerIdentity")
    assert calls == ["first"]
    # botocore's built-in handlers are in both, as in a session botocore builds itself.
    plain = HierarchicalEmitter()
    assert not plain._handlers.prefix_search("before-parameter-build.s3.PutObject")
    for session in (first, second):
        handlers = session.get_component("event_emitter")._emitter._handlers
        assert isinstance(handlers, _CopyOnWriteTrie)
        assert handlers.prefix_search("before-parameter-build.s3.PutObject")


def test_event_names_are_aliased_as_botocore_does_and_the_answers_are_shared() -> None:
    from botocore.hooks import EventAliaser

    first, second = botocore_session(), botocore_session()
    heard: list[str] = []
    # botocore's alias: events of the old service name `apigateway` reach `api-gateway` handlers.
    first.register("provisioner-test.api-gateway.GetRestApis", lambda event_name, **_: heard.append(event_name))
    first.get_component("event_emitter").emit("provisioner-test.apigateway.GetRestApis")
    assert heard == ["provisioner-test.api-gateway.GetRestApis"]
    # The answer is made once: a client's aliaser (a copy) and another session's share it.
    mine = copy.copy(first.get_component("event_emitter"))
    assert isinstance(mine, EventAliaser)
    assert mine._alias_name_cache is second.get_component("event_emitter")._alias_name_cache
    assert (
        mine._alias_name_cache["provisioner-test.apigateway.GetRestApis"] == "provisioner-test.api-gateway.GetRestApis"
    )
    # An aliaser with aliases of its own keeps its own answers.
    own = EventAliaser(HierarchicalEmitter(), {"ec2": "elastic-compute"})
    assert own._alias_event_name("provisioner-test.ec2.Thing") == "provisioner-test.elastic-compute.Thing"
    assert "provisioner-test.ec2.Thing" not in mine._alias_name_cache
