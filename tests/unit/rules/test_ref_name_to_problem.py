"""Short branch and tag names through `ref_name_problem`: git's own rules (`git check-ref-format`),
plus the characters Kiln refuses on top of them (control, bidirectional, whitespace)."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiln.rules.refs import ref_name_problem


@pytest.mark.parametrize(
    "name", ["main", "release/v1.2", "feature/JIRA-12_x", "v1.0.0", "a.b", "a@b", "@x", "名前/枝", "emoji-🚀"]
)
def test_names_git_accepts_to_no_problem(name: str) -> None:
    assert ref_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("a\x00b", "control character '\\x00'"),
        ("a\x7fb", "control character '\\x7f'"),
        ("a\x9bb", "control character '\\x9b'"),  # C1: a terminal's CSI
        ("a\udc80b", "control character '\\udc80'"),  # what a decoding error leaves
        ("a\u202eb", "bidirectional control character '\\u202e'"),
        ("a\u2067b", "bidirectional control character '\\u2067'"),
        ("a\u200fb", "bidirectional control character '\\u200f'"),
        ("a\u061cb", "bidirectional control character '\\u061c'"),
        ("a\u00a0b", "whitespace '\\xa0'"),
        ("a\u2028b", "whitespace '\\u2028'"),
        ("a\u3000b", "whitespace '\\u3000'"),
        ("a:b", "':'"),
        ("a\\b", "'\\\\'"),
        ("a~b", "'~'"),
        ("a^b", "'^'"),
        ("x.lock", "'x.lock' ends with '.lock'"),
        ("@", "'@'"),
    ],
)
def test_unusable_characters_to_a_problem_naming_them_escaped(name: str, complaint: str) -> None:
    problem = ref_name_problem(name)
    assert problem is not None
    assert complaint in problem
    assert problem.isprintable()


def git_accepts(name: str) -> bool:
    result = subprocess.run(
        ["git", "check-ref-format", f"refs/heads/{name}"], capture_output=True, check=False, timeout=10
    )
    return result.returncode == 0


RISKY = st.lists(
    st.sampled_from([*"ab/.-_@{}~^:?*[]\\ \t\x7f\x01", "\u202e", "\u3000", "\u00e9", ".lock", "@{"]),
    min_size=1,
    max_size=10,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(name=RISKY)
def test_every_name_git_refuses_is_refused(name: str) -> None:
    """Kiln is at least as strict as git: whatever `git check-ref-format` refuses, it refuses."""
    if not git_accepts(name):
        assert ref_name_problem(name) is not None
