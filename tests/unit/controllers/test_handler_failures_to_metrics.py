"""kopf's log records of failed handlers -> `kiln_reconcile_errors_total{kind}` (kopf reports a
handler's failure only in its log, so the operator's log filter counts it)."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY

from kiln.controllers.operator import RoutineAtDebug


def record(level: int, message: str, kind: str | None) -> logging.LogRecord:
    made = logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)
    if kind is not None:
        made.k8s_ref = {"apiVersion": "kiln.dev/v1alpha1", "kind": kind, "name": "x", "namespace": "n"}
    return made


def failures(kind: str) -> float:
    return REGISTRY.get_sample_value("kiln_reconcile_errors_total", {"kind": kind}) or 0.0


def test_failed_handlers_are_counted_by_kind_and_successes_are_not() -> None:
    logs = RoutineAtDebug(verbose=False)
    before_runs, before_operator = failures("BuildRun"), failures("operator")
    failed = "Handler 'buildrun_created' failed with an exception and will try again in 1 seconds: boom"
    assert logs.filter(record(logging.ERROR, failed, "BuildRun"))  # still logged
    logs.filter(record(logging.ERROR, "Handler 'repository_timer' failed permanently: no", "BuildRun"))
    logs.filter(record(logging.ERROR, "Activity 'configure' failed with an exception", None))
    logs.filter(record(logging.INFO, "Handler 'buildrun_created' succeeded.", "BuildRun"))
    logs.filter(record(logging.ERROR, "the build Handler 'x' failed elsewhere", "BuildRun"))
    assert failures("BuildRun") - before_runs == 2
    assert failures("operator") - before_operator == 1
