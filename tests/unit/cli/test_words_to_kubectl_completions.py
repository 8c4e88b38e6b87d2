"""The words kubectl passes `kubectl_complete-kiln` -> candidates in Cobra's format (a line each,
a tab and the description, then `:<directive>`); the same candidates as `kiln <TAB>`. The cluster
side (names read from the API server) is in tests/integration/test_cli.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiln.cli import kubectl_complete


def answer(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[list[str], str]:
    assert kubectl_complete(list(words)) == 0
    *candidates, directive = capsys.readouterr().out.splitlines()
    return candidates, directive


def test_no_words_to_the_commands_with_their_help_and_no_flags(capsys: pytest.CaptureFixture[str]) -> None:
    candidates, directive = answer(capsys)
    commands = dict(c.split("\t") for c in candidates)
    assert commands["build"] == "build a BuildRule by hand: create a Manual BuildRun"
    assert not [c for c in commands if c.startswith("-")]  # flags once a `-` is typed
    assert directive == ":4"
    assert answer(capsys, "")[0] == candidates
    assert "_ARGCOMPLETE" not in os.environ and "COMP_LINE" not in os.environ  # the request is undone


def test_flag_value_to_the_value_alone(capsys: pytest.CaptureFixture[str]) -> None:
    # Cobra's scripts complete `--output=j` with `json`, taking the flag off and putting it back
    assert answer(capsys, "get", "buildruns", "--output=j") == (["json"], ":4")
    assert [c.split("\t")[0] for c in answer(capsys, "get", "buildruns", "-o", "")[0]] == [
        "wide",
        "json",
        "yaml",
    ]
    assert [c.split("\t")[0] for c in answer(capsys, "get", "buildruns", "--out")[0]] == ["--output"]


def test_words_with_spaces_and_quotes_to_their_files_without_a_space_after_a_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my dir").mkdir()
    (tmp_path / "it's.yaml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert answer(capsys, "rule", "test", "-f", "my d") == (["my dir/"], ":6")
    assert answer(capsys, "rule", "test", "-f", "it") == (["it's.yaml"], ":4")
