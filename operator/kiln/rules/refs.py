"""Git refs and image tags: the two string grammars the engine converts between."""

from __future__ import annotations

import re
import unicodedata

from kiln.rules.types import RefType

REF_PREFIXES: dict[RefType, str] = {RefType.BRANCH: "refs/heads/", RefType.TAG: "refs/tags/"}

MAX_TAG_LENGTH = 128
# The OCI distribution spec's tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
_TAG_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_NOT_TAG_CHAR = re.compile(r"[^A-Za-z0-9_.-]")

# What `git check-ref-format` refuses anywhere in a ref name (besides control characters).
_GIT_FORBIDDEN = re.compile(r"[ ~^:?*\[\\]")
# Unicode's bidirectional controls (Bidi_Control): git allows them, but they make a name display in
# another order than it has (in logs, terminals, the code host's own pages), so Kiln refuses them.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def split_ref(ref: str) -> tuple[RefType, str] | None:
    """`refs/heads/x` -> (Branch, "x"), `refs/tags/x` -> (Tag, "x"); anything else -> None."""
    for ref_type, prefix in REF_PREFIXES.items():
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return ref_type, ref[len(prefix) :]
    return None


def full_ref(ref_type: RefType, name: str) -> str:
    """(Branch, "x") -> `refs/heads/x`: code hosts that report (type, short name) get full refs."""
    return REF_PREFIXES[ref_type] + name


def ref_type_named(word: str) -> RefType | None:
    """The ref type a code host's word names, in any case (`branch`, `BRANCH`, `Tag`); else None."""
    return next((t for t in RefType if t.value.lower() == word.lower()), None)


def sanitize(value: str) -> str:
    """Replace every character an image tag cannot hold with '-' (`feature/login` -> `feature-login`)."""
    return _NOT_TAG_CHAR.sub("-", value)


def bad_tag_chars(text: str) -> list[str]:
    """The distinct characters of `text` an image tag cannot hold, in order of appearance."""
    return list(dict.fromkeys(_NOT_TAG_CHAR.findall(text)))


def image_tag_problem(tag: str) -> str | None:
    """Why `tag` is not a valid image tag, or None if it is."""
    if not tag:
        return "it is empty"
    if len(tag) > MAX_TAG_LENGTH:
        return f"it is {len(tag)} characters long; an image tag holds at most {MAX_TAG_LENGTH}"
    if tag[0] not in _TAG_FIRST:
        return f"it starts with {tag[0]!r}; an image tag must start with a letter, a digit or '_'"
    bad = bad_tag_chars(tag)
    if bad:
        return (
            f"it contains {', '.join(map(repr, bad))}; an image tag holds only letters, digits, '_', '.', '-'"
        )
    return None


def _unusable_char(char: str) -> str | None:
    """Why a character cannot be in a ref name Kiln builds, or None.

    Git's own rule: no ASCII control character. Kiln adds every other control character (C1, the
    surrogates a decoding error leaves), the bidirectional controls and whitespace of any kind: a
    BuildRun's ref holds no whitespace, and these would flow into tags, logs and terminals.
    """
    if char in _BIDI_CONTROLS:
        return f"the bidirectional control character {char!r}, which makes a name display in another order"
    category = unicodedata.category(char)
    if category in ("Cc", "Cs"):
        return f"the control character {char!r}, which git does not allow in ref names"
    if char.isspace() and char != " ":  # a plain space is git's own rule, below
        return f"the whitespace {char!r}; a ref Kiln builds holds no whitespace"
    return None


_PRINTABLE_ASCII = re.compile(r"[!-~]+")


def ref_name_problem(name: str) -> str | None:
    """Why `name` is not a valid short branch/tag name (git check-ref-format rules, plus control,
    bidirectional and whitespace characters of any script), or None."""
    if not name:
        return "it is empty"
    if name.startswith("refs/"):
        return f"give the short name (such as 'main'), not the full ref {name!r}"
    # printable ASCII (no space) holds no control, bidi or whitespace character: skip the per-character look
    if not _PRINTABLE_ASCII.fullmatch(name):
        unusable = next((reason for reason in map(_unusable_char, name) if reason is not None), None)
        if unusable is not None:
            return f"it contains {unusable}"
    forbidden = _GIT_FORBIDDEN.search(name)  # the first one, as a loop over the characters would find
    if forbidden is not None:
        bad = forbidden.group()
        hint = "; to select refs by a regular expression use spec.source.pattern" if bad in "?*[^" else ""
        return f"it contains {bad!r}, which git does not allow in ref names{hint}"
    if name.startswith("-"):
        return "it starts with '-'"
    if name == "@" or "@{" in name:
        return "it is '@' or contains '@{'"
    if ".." in name:
        return "it contains '..'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "it starts or ends with '/' or contains '//'"
    if name.endswith("."):
        return "it ends with '.'"
    for component in name.split("/"):
        if component.startswith("."):
            return f"its component {component!r} starts with '.'"
        if component.endswith(".lock"):
            return f"its component {component!r} ends with '.lock'"
    return None
