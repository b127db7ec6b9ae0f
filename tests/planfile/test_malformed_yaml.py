"""Files that are not a plan document at all: refused with a file-level issue, fast and safely."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from provisioner.planfile.yamlsafe import MAX_FILE_BYTES

from ._helpers import BadPlan, mutate, shipped

BadPlanFn = Callable[..., BadPlan]

DEV = shipped("dev")


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_load_empty_file_is_refused(bad_plan: BadPlanFn, content: str) -> None:
    bad = bad_plan(content)
    bad.assert_issue("", line=None, problem=("the file is empty", "`kind`"))


def test_load_yaml_syntax_error_names_its_line(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(mutate(DEV, "  cidr: 10.10.0.0/16\n", "  cidr: 10.10.0.0/16: oops\n"))
    bad.assert_issue("", line=bad.line("cidr: 10.10.0.0/16: oops"), problem=("not valid YAML", "mapping values"))


def test_load_tab_indentation_names_its_line(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(mutate(DEV, "  cidr: 10.10.0.0/16\n", "\tcidr: 10.10.0.0/16\n"))
    bad.assert_issue("", line=bad.line("\tcidr"), problem=("not valid YAML", "'\\t'"))


def test_load_yaml_list_instead_of_mapping_is_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan("- kind: environment\n- name: dev\n")
    bad.assert_issue("", line=1, problem=("list, not a mapping",), allowed=("mapping", "`kind`"))


def test_load_scalar_document_is_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan("just some words\n")
    bad.assert_issue("", line=1, problem=("str, not a mapping",))


def test_load_several_documents_is_refused_at_the_second(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(DEV + "---\nkind: shared\n")
    bad.assert_issue("", line=bad.line("kind: shared"), problem=("several YAML documents",))


def test_load_duplicate_key_names_the_field_path(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(mutate(DEV, "  cidr: 10.10.0.0/16\n", "  cidr: 10.10.0.0/16\n  cidr: 10.11.0.0/16\n"))
    bad.assert_issue("network.cidr", line=bad.line("cidr: 10.11.0.0/16"), problem=("duplicate key",))


def test_load_alias_bomb_fails_fast(bad_plan: BadPlanFn) -> None:
    # "Billion laughs": 9 ** 9 (~387 million) strings once expanded, a few hundred bytes on disk.
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    content = "kind: environment\n" + "\n".join(lines) + "\n"
    started = time.perf_counter()
    bad = bad_plan(content)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    issue = bad.issue("")
    assert "alias bomb" in issue.problem
    assert issue.line is not None and 2 <= issue.line <= 10


def test_load_alias_that_contains_itself_is_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan("kind: environment\ntags: &loop [*loop]\n")
    bad.assert_issue("", line=2, problem=("alias refers to the node that contains it",))


def test_load_merge_key_is_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan("kind: environment\nbase: &base {a: 1}\ntags:\n  <<: *base\n")
    bad.assert_issue("tags", line=4, problem=("merge keys",))


def test_load_file_over_size_limit_is_refused(bad_plan: BadPlanFn) -> None:
    content = DEV + "#" * (MAX_FILE_BYTES + 1) + "\n"
    bad = bad_plan(content)
    bad.assert_issue("", line=None, problem=(f"{len(content.encode()):,} bytes", f"at most {MAX_FILE_BYTES:,} bytes"))


def test_load_deep_nesting_is_refused(bad_plan: BadPlanFn) -> None:
    nested = "".join("  " * (depth + 1) + f"k{depth}:\n" for depth in range(40))
    bad = bad_plan("kind: environment\ntags:\n" + nested)
    issue = bad.issue("")
    assert "nested deeper than 32 levels" in issue.problem
    assert issue.line is not None and 3 <= issue.line <= 42


def test_load_deep_flow_nesting_is_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan("kind: environment\ntags: " + "[" * 1000 + "]" * 1000 + "\n")
    assert "nested deeper" in bad.issue("").problem


def test_load_non_utf8_bytes_are_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(mutate(DEV, "Innovate Inc. development", "Innovate Inc. d\xe9v").encode("latin-1"))
    bad.assert_issue("", line=None, problem=("not UTF-8",))


@pytest.mark.parametrize(
    "tagged",
    ["!!python/object:os.system Innovate", "!custom Innovate", "!!int two", "!!timestamp Innovate"],
    ids=["python-object", "unknown-tag", "bad-int", "bad-timestamp"],
)
def test_load_explicit_yaml_tag_is_refused(bad_plan: BadPlanFn, tagged: str) -> None:
    bad = bad_plan(mutate(DEV, "description: Innovate Inc. development environment", f"description: {tagged}"))
    assert bad.issues[0].line == bad.line("description:")


def test_a_text_read_again_gives_the_same_document_as_its_own_copy() -> None:
    from provisioner.planfile.yamlsafe import YamlProblem, load_yaml

    text = "kind: environment\nnetwork:\n  cidr: 10.0.0.0/16\n  azs: [a, b]\n"
    first, again = load_yaml(text), load_yaml(text)
    assert first.data == again.data and first.lines == again.lines == {**first.lines}
    first.data["network"]["azs"].append("c")  # one caller's change is not the next one's
    assert load_yaml(text).data["network"]["azs"] == ["a", "b"]
    assert again.lines[("network", "cidr")] == 3
    # A refused text is refused each time (never remembered as read).
    for _ in range(2):
        with pytest.raises(YamlProblem, match="duplicate"):
            load_yaml("kind: a\nkind: b\n")
