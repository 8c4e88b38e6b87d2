"""A BuildRule's `paths` / `ignorePaths` filters over the files a push changed (pure).

Globs are matched against the whole path from the repository root: `*` and `?` stay within one
directory, `**` crosses directories (`docs/**`, `**/*.md`), `[abc]` / `[!abc]` are character
classes, a leading `/` is ignored and a trailing `/` means everything below the directory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


def _char_class(pattern: str, start: int) -> tuple[str, int] | None:
    """The regex of the class starting at pattern[start] == "[", and the index after it; None if unclosed."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] == "!"
    if negate:
        i += 1
    # A `]` right after the opening bracket is a member, as in fnmatch.
    end = pattern.find("]", i + 1 if i < len(pattern) and pattern[i] == "]" else i)
    if end < 0:
        return None
    members = pattern[i:end].replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
    return f"[{'^/' if negate else ''}{members}]", end + 1


def glob_to_regex(pattern: str) -> str:
    """The regular expression (for `fullmatch`) of one glob."""
    glob = pattern.lstrip("/")
    if glob.endswith("/"):
        glob += "**"
    out: list[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if char == "*":
            end = i
            while end < len(glob) and glob[end] == "*":
                end += 1
            if end - i == 1:
                out.append("[^/]*")
            elif end < len(glob) and glob[end] == "/" and (i == 0 or glob[i - 1] == "/"):
                out.append("(?:[^/]*/)*")  # `**/`: zero or more whole directories
                end += 1
            else:
                out.append(".*")
            i = end
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and (found := _char_class(glob, i)) is not None:
            out.append(found[0])
            i = found[1]
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _compile(globs: Sequence[str]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(f"(?:{glob_to_regex(g)})" for g in globs))


@dataclass(frozen=True, slots=True)
class PathFilter:
    """Compiled `paths` and `ignorePaths` of one rule."""

    paths: re.Pattern[str] | None = None
    ignore: re.Pattern[str] | None = None

    @classmethod
    def of(cls, paths: Sequence[str], ignore_paths: Sequence[str]) -> PathFilter:
        return cls(_compile(paths), _compile(ignore_paths))

    def skip_reason(self, changed_files: Sequence[str] | None) -> str | None:
        """Why the push does not build, or None when it does.

        Unknown or empty file lists (a host that does not list them, a tag pushed on an existing
        commit) build: the filter cannot tell, and a missed build is worse than an extra one.
        """
        if not changed_files:
            return None
        if self.paths is not None and not any(self.paths.fullmatch(f) for f in changed_files):
            return "no changed file matches spec.paths"
        if self.ignore is not None and all(self.ignore.fullmatch(f) for f in changed_files):
            return "every changed file matches spec.ignorePaths"
        return None


NO_FILTER = PathFilter()
