"""What every handler gets through kopf's `memo`: settings and the Kubernetes client."""

from __future__ import annotations

from typing import Any

import kopf

from kiln.platform.kube import Kube
from kiln.platform.settings import Settings


class Runtime(kopf.Memo):
    """kopf.Memo is a dict with attribute access; these annotations only type the keys Kiln sets."""

    settings: Settings
    kube: Kube
    # the admission webhook configuration this process keeps current (its CA bundle and address),
    # set at startup when it serves admission; None when it does not
    webhook_configuration: dict[str, Any] | None


def make_runtime(settings: Settings, kube: Kube) -> Runtime:
    runtime = Runtime()
    runtime.settings = settings
    runtime.kube = kube
    runtime.webhook_configuration = None
    return runtime
