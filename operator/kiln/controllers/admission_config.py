"""Keeps `validate.kiln.dev` current while the operator runs, not only at its start: a `kubectl
replace`, a chart that templates no CA bundle, or a deletion would otherwise refuse every write of
a Kiln object (failing closed) until the operator restarted.

Every event of that configuration brings it back in line (`kiln.reconcile.admission`), which writes
only when something Kiln owns differs: its own write, seen again here, changes nothing.
"""

from __future__ import annotations

import time
from typing import Any

import kopf
import urllib3
from kubernetes.client.exceptions import ApiException

from kiln.api.admission import CONFIGURATION_NAME
from kiln.controllers.runtime import Runtime
from kiln.reconcile.admission import ensure_webhook_configuration

# event handlers are not retried by kopf: a failed write is tried again after these pauses
_RETRY_SECONDS = (1.0, 2.0, 5.0)


def _is_kilns(name: str, **_: Any) -> bool:
    return name == CONFIGURATION_NAME


@kopf.on.event("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", when=_is_kilns)
def webhook_configuration_changed(memo: Runtime, logger: Any, **_: Any) -> None:
    """Changed, replaced or deleted: put Kiln's part of it back (a deleted one is created again)."""
    desired = memo.webhook_configuration
    if desired is None:
        return  # this process does not serve admission
    for pause in (*_RETRY_SECONDS, None):
        try:
            notes = ensure_webhook_configuration(memo.kube, desired)
        except (ApiException, urllib3.exceptions.HTTPError, RuntimeError) as error:
            if pause is None:
                raise
            logger.warning(f"keeping {CONFIGURATION_NAME} current failed, retrying in {pause:g} s: {error}")
            time.sleep(pause)
            continue
        for note in notes:
            logger.warning(note)
        return
