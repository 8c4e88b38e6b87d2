"""BuildRule controller: keeps `Valid`, `manualBuild`, `manualBuildReason` and `tagSummary` (the
Tags column of `kubectl get`) in status.

Admission refuses invalid rules, but rules can predate the operator (or its webhook may have been
off): those get `Valid=False` and a Warning Event naming the fields, never a crashed handler.
"""

from __future__ import annotations

from typing import Any

import kopf

from kiln.api.conditions import get_condition
from kiln.api.constants import BUILD_RULE, GROUP, VERSION, ConditionType
from kiln.api.status import buildrule_status


@kopf.on.resume(GROUP, VERSION, BUILD_RULE.plural)
@kopf.on.create(GROUP, VERSION, BUILD_RULE.plural)
@kopf.on.update(GROUP, VERSION, BUILD_RULE.plural, field="spec")
def buildrule_reconcile(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, **_: Any) -> None:
    new = buildrule_status(body, list(status.get("conditions") or []))
    patch.status.update(new)
    valid = get_condition(new["conditions"], ConditionType.VALID)
    if valid is not None and valid["status"] == "False":
        kopf.warn(body, reason=valid["reason"], message=valid["message"])
