"""The Kiln API (group kiln.dev, version v1alpha1): pydantic models of the four kinds.

`MODELS` maps each kind name to its top-level model, in the order of `constants.KINDS`.
"""

from __future__ import annotations

from kiln.api.buildrule import BuildRule, BuildRuleSpec, BuildRuleStatus, buildrule_to_rule
from kiln.api.buildrun import BuildRun, BuildRunSpec, BuildRunStatus
from kiln.api.common import Condition, ConditionStatus, KilnObject
from kiln.api.constants import API_VERSION, GROUP, KINDS, VERSION
from kiln.api.namespace import Namespace, NamespaceSpec, NamespaceStatus
from kiln.api.repository import Repository, RepositorySpec, RepositoryStatus

MODELS: dict[str, type[KilnObject]] = {
    model.INFO.kind: model for model in (Namespace, Repository, BuildRule, BuildRun)
}
assert list(MODELS) == [k.kind for k in KINDS], "MODELS must follow constants.KINDS"

__all__ = [
    "API_VERSION",
    "GROUP",
    "MODELS",
    "VERSION",
    "BuildRule",
    "BuildRuleSpec",
    "BuildRuleStatus",
    "BuildRun",
    "BuildRunSpec",
    "BuildRunStatus",
    "Condition",
    "ConditionStatus",
    "KilnObject",
    "Namespace",
    "NamespaceSpec",
    "NamespaceStatus",
    "Repository",
    "RepositorySpec",
    "RepositoryStatus",
    "buildrule_to_rule",
]
