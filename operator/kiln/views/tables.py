"""The tables of `kiln get buildruns|rules|repos`: headers and rows of cells from the objects."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from kiln.api.buildrule import BuildRule
from kiln.api.buildrun import SHORT_COMMIT_LENGTH, Phase
from kiln.api.conditions import get_condition
from kiln.api.constants import ConditionType
from kiln.api.validation import checked_spec
from kiln.rules import tag_summary
from kiln.views.fields import Object, as_text, get, trigger_text
from kiln.views.times import age, duration

# Characters of a digest's hex shown in a table (as `docker images` abbreviates image ids).
SHORT_DIGEST = 12
COLUMN_GAP = 3


class Tone(enum.StrEnum):
    """What a cell says at a glance; the CLI colours it on a terminal."""

    GOOD = "good"
    BAD = "bad"
    BUSY = "busy"
    WAITING = "waiting"
    MUTED = "muted"


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    tone: Tone | None = None


@dataclass(frozen=True, slots=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


_PHASE_TONES = {
    Phase.SUCCEEDED: Tone.GOOD,
    Phase.FAILED: Tone.BAD,
    Phase.RUNNING: Tone.BUSY,
    Phase.PENDING: Tone.WAITING,
    Phase.CANCELLED: Tone.MUTED,
}
_CONDITION_TONES = {"True": Tone.GOOD, "False": Tone.BAD, "Unknown": Tone.WAITING}


def phase_tone(phase: object) -> Tone | None:
    return _PHASE_TONES.get(Phase(phase)) if isinstance(phase, str) and phase in _PHASE_TONES else None


def format_table(table: Table) -> list[str]:
    """Plain lines, columns aligned as `kubectl get` aligns them (the last one not padded)."""
    widths = [
        max(len(h), *(len(row[i].text) for row in table.rows)) if table.rows else len(h)
        for i, h in enumerate(table.headers)
    ]
    return [
        (" " * COLUMN_GAP).join(text.ljust(w) for text, w in zip(line, widths, strict=True)).rstrip()
        for line in [table.headers, *([c.text for c in row] for row in table.rows)]
    ]


def _condition(obj: Object, type_: ConditionType, field: str = "status") -> str:
    found = get_condition(get(obj, "status", "conditions"), type_)
    return as_text(found.get(field)) if found else ""


def _condition_cell(obj: Object, type_: ConditionType) -> Cell:
    status = _condition(obj, type_)
    return Cell(status, _CONDITION_TONES.get(status))


def short_ref(ref: object) -> str:
    """`refs/heads/main` -> `main`, `refs/tags/v1` -> `v1`."""
    text = as_text(ref)
    return text.split("/", 2)[2] if text.startswith(("refs/heads/", "refs/tags/")) else text


def short_digest(digest: object) -> str:
    algorithm, _, hex_part = as_text(digest).partition(":")
    return f"{algorithm}:{hex_part[:SHORT_DIGEST]}" if hex_part else ""


def _ordered(objects: Iterable[Object]) -> list[Object]:
    """Oldest first (a build's history reads downwards), then by name."""
    return sorted(
        objects,
        key=lambda o: (as_text(get(o, "metadata", "creationTimestamp")), as_text(get(o, "metadata", "name"))),
    )


Column = tuple[str, Callable[[Object], Cell]]


def _table(
    columns: Sequence[Column], wide: Sequence[Column], objects: Iterable[Object], show_wide: bool
) -> Table:
    chosen = [*columns, *(wide if show_wide else ())]
    age_column = chosen.pop(len(columns) - 1)  # AGE stays last, after the wide columns
    chosen.append(age_column)
    return Table(
        tuple(header for header, _ in chosen),
        tuple(tuple(cell(obj) for _, cell in chosen) for obj in _ordered(objects)),
    )


def _plain(*path: str) -> Callable[[Object], Cell]:
    return lambda obj: Cell(as_text(get(obj, *path)))


def _age(now: datetime) -> Column:
    return ("AGE", lambda obj: Cell(age(get(obj, "metadata", "creationTimestamp"), now)))


def _first_digest(run: Object) -> str:
    images = get(run, "status", "images") or []
    return next(
        (short_digest(i.get("digest")) for i in images if isinstance(i, Mapping) and i.get("digest")), ""
    )


def buildrun_table(runs: Iterable[Object], now: datetime, wide: bool = False) -> Table:
    def phase(run: Object) -> Cell:
        value = get(run, "status", "phase")
        return Cell(as_text(value), phase_tone(value))

    columns: list[Column] = [
        ("NAME", _plain("metadata", "name")),
        ("RULE", _plain("spec", "buildRule")),
        ("REF", lambda r: Cell(short_ref(get(r, "spec", "source", "ref")))),
        (
            "COMMIT",
            lambda r: Cell(
                as_text(get(r, "status", "shortCommit"))
                or as_text(get(r, "spec", "source", "commit"))[:SHORT_COMMIT_LENGTH]
            ),
        ),
        ("PHASE", phase),
        ("PROGRESS", _plain("status", "progress", "summary")),
        ("TAGS", lambda r: Cell(",".join(get(r, "spec", "tags") or []))),
        ("DIGEST", lambda r: Cell(_first_digest(r))),
        (
            "DURATION",
            lambda r: Cell(duration(get(r, "status", "startTime"), get(r, "status", "completionTime"), now)),
        ),
        _age(now),
    ]
    extra: list[Column] = [
        ("TRIGGER", lambda r: Cell(trigger_text(r))),
        ("REASON", lambda r: Cell(_condition(r, ConditionType.SUCCEEDED, "reason"))),
        ("IMAGE", lambda r: Cell(as_text(((get(r, "status", "images") or [{}])[0] or {}).get("ref")))),
        (
            "MESSAGE",
            lambda r: Cell(
                as_text(get(r, "status", "message")).splitlines()[0] if get(r, "status", "message") else ""
            ),
        ),
    ]
    return _table(columns, extra, runs, wide)


def rule_tags(rule: Object) -> str:
    """The rule's tags in one line: what the operator wrote, else worked out here (a rule the
    operator has not seen yet)."""
    written = get(rule, "status", "tagSummary")
    if written:
        return str(written)
    model = checked_spec(BuildRule, rule)
    return "" if isinstance(model, str) else tag_summary(model.to_rule().tags)


def _source(rule: Object) -> str:
    source = get(rule, "spec", "source") or {}
    if not isinstance(source, Mapping):
        return ""
    if source.get("pattern") is not None:
        return f"{as_text(source.get('type'))} /{source['pattern']}/"
    return f"{as_text(source.get('type'))} {as_text(source.get('name'))}"


def rule_table(rules: Iterable[Object], now: datetime, wide: bool = False) -> Table:
    def manual(rule: Object) -> Cell:
        value = as_text(get(rule, "status", "manualBuild"))
        return Cell(value, {"Allowed": Tone.GOOD, "Refused": Tone.MUTED}.get(value))

    columns: list[Column] = [
        ("NAME", _plain("metadata", "name")),
        ("REPOSITORY", _plain("spec", "repository")),
        ("SOURCE", lambda r: Cell(_source(r))),
        ("TAGS", lambda r: Cell(rule_tags(r))),
        ("MANUAL", manual),
        ("VALID", lambda r: _condition_cell(r, ConditionType.VALID)),
        ("LAST RUN", _plain("status", "lastBuildRun")),
        _age(now),
    ]
    extra: list[Column] = [
        ("PLATFORMS", lambda r: Cell(",".join(get(r, "spec", "platforms") or []))),
        ("POLICY", _plain("spec", "runPolicy")),
        ("WHY NOT MANUAL", _plain("status", "manualBuildReason")),
    ]
    return _table(columns, extra, rules, wide)


def repository_table(repositories: Iterable[Object], now: datetime, wide: bool = False) -> Table:
    columns: list[Column] = [
        ("NAME", _plain("metadata", "name")),
        ("PROVIDER", _plain("spec", "source", "provider")),
        ("URL", _plain("spec", "source", "url")),
        ("READY", lambda r: _condition_cell(r, ConditionType.READY)),
        ("IMAGE", _plain("status", "image")),
        ("LAST RUN", _plain("status", "lastBuildRun")),
        _age(now),
    ]
    extra: list[Column] = [
        ("AUTO BUILD", lambda r: Cell("false" if get(r, "spec", "build", "autoBuild") is False else "true")),
        ("WEBHOOK", _plain("status", "webhook", "url")),
        ("REASON", lambda r: Cell(_condition(r, ConditionType.READY, "message"))),
    ]
    return _table(columns, extra, repositories, wide)
