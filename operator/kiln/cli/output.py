"""What the cluster commands print: colour and a progress line on a terminal, plain text when piped.

rich decides what the output is (a terminal, or not; `NO_COLOR` and `FORCE_COLOR` as everywhere).
The layout is the same either way (`kiln.views`), so piped output reads as the terminal's without
its colours and without the progress line, which exists only while a command waits.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from kiln.views import Cell, Table, Tone, format_table

STYLES = {
    Tone.GOOD: "green",
    Tone.BAD: "bold red",
    Tone.BUSY: "cyan",
    Tone.WAITING: "yellow",
    Tone.MUTED: "dim",
}


class Progress(Protocol):
    def __call__(self, text: str) -> None: ...


class Output:
    """Standard output, through rich when it is a terminal."""

    def __init__(self) -> None:
        # soft_wrap: a long line is the terminal's to wrap, never cut into rows of a table
        self.console = Console(highlight=False, soft_wrap=True)
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def live(self) -> bool:
        """Whether progress lines are shown: only on a terminal, where they can be redrawn."""
        return self.console.is_terminal

    @property
    def colour(self) -> bool:
        """Whether colour is written: on a terminal (unless NO_COLOR), or where FORCE_COLOR asks."""
        return self.console.color_system is not None

    def line(self, text: str, tone: Tone | None = None) -> None:
        """One line of the command's output."""
        if self.colour:
            self.console.print(Text(text, style=STYLES[tone] if tone else ""))
        else:
            self.raw(text)

    def raw(self, text: str) -> None:
        """A line of a build log, exactly as the build wrote it (no markup, no colour added)."""
        if self.live:
            self.console.out(text, highlight=False)
        else:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def note(self, text: str, tone: Tone | None = None) -> None:
        """A remark for the person at the terminal (on standard error, out of a pipe's way)."""
        self.errors.print(Text(text, style=STYLES[tone] if tone else ""))

    def cells(self, cells: Iterable[Cell]) -> None:
        for cell in cells:
            self.line(cell.text, cell.tone)

    def table(self, table: Table) -> None:
        """The table aligned as `kubectl get` aligns it; on a terminal, headers bold and cells coloured."""
        lines = format_table(table)
        if not self.colour:
            self.raw("\n".join(lines))
            return
        header, *rows = lines
        self.console.print(Text(header, style="bold"))
        for text, row in zip(rows, table.rows, strict=True):
            self.console.print(_styled(text, row))

    def document(self, value: Any, fmt: str) -> None:
        """`-o json` / `-o yaml`, as kubectl prints them."""
        import yaml

        text = json.dumps(value, indent=4) if fmt == "json" else yaml.safe_dump(value, sort_keys=False)
        self.raw(text.rstrip("\n"))

    @contextmanager
    def progress(self, text: str) -> Iterator[Progress]:
        """A redrawn line while a command waits; on a pipe, nothing (the callable does nothing)."""
        if not self.live:
            yield lambda _text: None
            return
        with self.console.status(text) as status:
            yield lambda new: status.update(new)


def _styled(line: str, row: Sequence[Cell]) -> Text:
    """`line` (a row of format_table) with each toned cell's text styled where it stands."""
    text = Text(line)
    start = 0
    for cell in row:
        at = line.find(cell.text, start) if cell.text else -1
        if at < 0:
            continue
        if cell.tone is not None:
            text.stylize(STYLES[cell.tone], at, at + len(cell.text))
        start = at + len(cell.text)
    return text


def as_list(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Objects as `kubectl get -o json` prints several: a v1 List."""
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {"resourceVersion": ""}}
