"""Fixtures of the fault suite: a tenant like the receiver tests' one, building one at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import OperatorProcess
from tests.integration.conftest import Tenants, eventually, tenant_spec
from tests.integration.test_webhook_receiver import Tenant
from tests.unit.webhooks.objects import CHANGES_RULE, MAIN_RULE, PATTERN_RULE, repository, secret


@pytest.fixture(scope="module")
def quiet_tenant(operator: OperatorProcess) -> Iterator[Tenant]:
    """Repository `app` (the shared GitHub push's), its Secret and three rules, two of which build
    that push. One build at a time: a flood of BuildRuns waits in the tenant's queue instead of
    loading the node, and goes with the tenant at the end."""
    tenants = Tenants(operator.cluster)
    try:
        name = tenants.create(tenant_spec(quota={"maxConcurrentBuilds": 1}))
        eventually(lambda: tenants.ready(name), what=f"Namespace {name} reconciled")
        tenant = Tenant(name, tenants.get(name)["status"]["kubernetesNamespace"], operator.cluster)
        tenant.apply(secret(), repository(), CHANGES_RULE, PATTERN_RULE, MAIN_RULE)
        yield tenant
    finally:
        tenants.cleanup()
