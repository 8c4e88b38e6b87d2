"""Every generated Job and ConfigMap against the schemas of current Kubernetes (kubernetes-validate).

The harness's API server is 1.20 (tests/integration/test_build_jobs_dry_run.py sends the same
objects to it); clusters that run Kiln are newer, and a field that one of them removed, or a typo
that 1.20 would prune silently, must fail here (strict: no unknown fields).
"""

from __future__ import annotations

import kubernetes_validate
import pytest

from kiln.builds import JobPlan
from tests.unit.builds.objects import variants

# the oldest and newest releases the package has schemas for that clusters still run
VERSIONS = ("1.30.0", "1.35.0")
PLANS = variants()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(PLANS))
def test_job_is_valid_for_current_kubernetes(name: str, version: str) -> None:
    plan: JobPlan = PLANS[name]
    for manifest in plan.manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_a_misspelt_field_fails_the_check() -> None:
    plan = PLANS["buildkit / default"]
    broken = {**plan.job, "spec": {**plan.job["spec"], "backofLimit": 0}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)
