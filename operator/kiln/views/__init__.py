"""What the `kiln` command shows of Kiln objects: tables of BuildRuns, BuildRules and Repositories
(`tables`), a BuildRun described (`describe`), ages and durations (`times`). Pure: plain dicts, as
the API server returns them, and a clock in; text out. Colour is a `Tone` per cell, which the CLI
turns into a style on a terminal and drops when piped.
"""

from kiln.api.common import parse_time
from kiln.views.describe import describe_buildrun, finished_result
from kiln.views.tables import (
    Cell,
    Table,
    Tone,
    buildrun_table,
    format_table,
    phase_tone,
    repository_table,
    rule_table,
)
from kiln.views.times import age, duration

__all__ = [
    "Cell",
    "Table",
    "Tone",
    "age",
    "buildrun_table",
    "describe_buildrun",
    "duration",
    "finished_result",
    "format_table",
    "parse_time",
    "phase_tone",
    "repository_table",
    "rule_table",
]
