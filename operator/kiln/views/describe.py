"""`kiln describe buildrun`: what was built, from what, why, how it went, in `kubectl describe` style."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from kiln.api.buildrun import Phase
from kiln.api.common import parse_time
from kiln.api.conditions import get_condition
from kiln.api.constants import ConditionType
from kiln.views.fields import Object, as_text, get, trigger_text
from kiln.views.tables import Cell, Table, format_table, phase_tone
from kiln.views.times import age, duration

LABEL_WIDTH = 13
FINISHED = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})


def _field(label: str, value: object, tone: Cell | None = None) -> Cell:
    text = f"{label + ':':<{LABEL_WIDTH}} {as_text(value)}".rstrip()
    return Cell(text, tone.tone if tone else None)


def _indented(table: Table) -> list[Cell]:
    return [Cell(f"  {line}") for line in format_table(table)]


def _when(value: object, now: datetime) -> str:
    return f"{value} ({age(value, now)} ago)" if parse_time(value) else ""


def _event_time(event: Mapping[str, Any]) -> object:
    return event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")


def _phase(run: Object) -> str:
    phase = as_text(get(run, "status", "phase")) or "<none: the operator has not seen it yet>"
    reason = as_text(
        (get_condition(get(run, "status", "conditions"), ConditionType.SUCCEEDED) or {}).get("reason")
    )
    return f"{phase} ({reason})" if reason and reason != phase else phase


def describe_buildrun(run: Object, events: Iterable[Mapping[str, Any]] | None, now: datetime) -> list[Cell]:
    """The lines of `kiln describe buildrun` for `run` and the Events about it (None: the user may
    not list Events)."""
    meta, spec, status = run.get("metadata") or {}, run.get("spec") or {}, run.get("status") or {}
    source = spec.get("source") or {}
    phase = status.get("phase")
    lines = [
        _field("Name", meta.get("name")),
        _field("Namespace", meta.get("namespace")),
        _field("Rule", spec.get("buildRule")),
        _field("Repository", spec.get("repository")),
        _field(
            "Triggered by",
            trigger_text(run)
            + (
                f" (delivery {spec['trigger']['deliveryId']})"
                if get(run, "spec", "trigger", "deliveryId")
                else ""
            ),
        ),
        _field("Source", f"{as_text(source.get('ref'))} at {as_text(source.get('commit'))}"),
    ]
    for label, key in (("Author", "author"), ("Pushed", "pushedAt")):
        if source.get(key):
            lines.append(_field(label, source[key]))
    if source.get("message"):
        lines.append(_field("Commit", str(source["message"]).splitlines()[0]))
    lines += [
        _field("Tags", ", ".join(spec.get("tags") or [])),
        _field("Phase", _phase(run), Cell("", phase_tone(phase))),
    ]
    if spec.get("cancel") and phase not in FINISHED:
        lines.append(_field("Cancel", "requested"))
    if status.get("message"):
        lines.append(_field("Message", status["message"]))
    if get(status, "progress", "summary"):
        lines.append(_field("Progress", status["progress"]["summary"]))
    for label, key in (("Strategy", "strategy"), ("Job", "jobName")):
        if status.get(key):
            lines.append(_field(label, status[key]))
    if status.get("platforms"):
        lines.append(_field("Platforms", ", ".join(status["platforms"])))
    created, started, finished = (
        meta.get("creationTimestamp"),
        status.get("startTime"),
        status.get("completionTime"),
    )
    lines.append(Cell("Timing:"))
    lines.append(_field("  Created", _when(created, now)))
    if started:
        lines.append(_field("  Started", f"{_when(started, now)}, waited {duration(created, started, now)}"))
    if finished:
        lines.append(
            _field("  Finished", f"{_when(finished, now)}, ran {duration(started or created, finished, now)}")
        )
    elif started:
        lines.append(_field("  Running for", duration(started, None, now)))
    images = status.get("images") or []
    lines.append(Cell("Images:" + ("" if images else " <none>")))
    if images:
        lines += _indented(
            Table(
                ("REF", "DIGEST"),
                tuple((Cell(as_text(i.get("ref"))), Cell(as_text(i.get("digest")))) for i in images),
            )
        )
    archive = get(status, "logs", "archive")
    lines.append(
        _field(
            "Log",
            f"archived in {archive}"
            if archive
            else ("in the build Pod" if phase == Phase.RUNNING else "<none>"),
        )
    )
    lines += _conditions(status.get("conditions") or [])
    lines += _events(events, now)
    return lines


def _conditions(conditions: Sequence[Mapping[str, Any]]) -> list[Cell]:
    if not conditions:
        return [Cell("Conditions: <none>")]
    rows = tuple(
        tuple(Cell(as_text(c.get(k))) for k in ("type", "status", "reason", "message")) for c in conditions
    )
    return [Cell("Conditions:"), *_indented(Table(("TYPE", "STATUS", "REASON", "MESSAGE"), rows))]


def _events(events: Iterable[Mapping[str, Any]] | None, now: datetime) -> list[Cell]:
    if events is None:
        return [Cell("Events: <not shown: you may not list Events in this namespace>")]
    ordered = sorted(events, key=lambda e: as_text(_event_time(e)))
    if not ordered:
        return [Cell("Events: <none>")]
    rows = tuple(
        (
            Cell(as_text(e.get("type"))),
            Cell(as_text(e.get("reason"))),
            Cell(age(_event_time(e), now)),
            Cell(as_text(e.get("message")).replace("\n", " ")),
        )
        for e in ordered
    )
    return [Cell("Events:"), *_indented(Table(("TYPE", "REASON", "AGE", "MESSAGE"), rows))]


def finished_result(run: Object) -> tuple[bool, str] | None:
    """For a finished run: (whether it succeeded, a line saying how it ended); None while it runs."""
    status = run.get("status") or {}
    phase = status.get("phase")
    if phase not in FINISHED:
        return None
    name = as_text(get(run, "metadata", "name"))
    if phase == Phase.SUCCEEDED:
        pushed = ", ".join(
            f"{i.get('ref')}@{i['digest']}" if i.get("digest") else as_text(i.get("ref"))
            for i in status.get("images") or []
        )
        return True, f"BuildRun {name} succeeded: pushed {pushed or 'nothing'}"
    message = as_text(status.get("message")) or _phase(run)
    return False, f"BuildRun {name} {str(phase).lower()}: {message}"
