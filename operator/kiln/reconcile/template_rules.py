"""The BuildRules of a Repository an organization delivery created, completed by the operator.

The receiver creates the Repository and then its BuildRules; if the API server refuses one for a
moment, or the receiver stops in between, the delivery fails and a redelivery finds the Repository
and builds with the rules it has. So the Repository carries the rules it is to have
(`kiln.webhooks.organization.ANNOTATION_TEMPLATE_BUILDRULES`) and the operator creates any that do
not exist, then removes the annotation: from then on, a rule deleted by hand stays deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from kiln.api.constants import API_VERSION, REPOSITORY
from kiln.platform.kube import Kube, api_message, retriable
from kiln.webhooks.organization import ANNOTATION_TEMPLATE_BUILDRULES, template_rules

Event = tuple[str, str, str]


def complete_template_rules(kube: Kube, body: Mapping[str, Any]) -> tuple[Event, ...]:
    """Create the Repository `body`'s template BuildRules that are missing; once none is left to
    try again (created, existing, or refused for good), remove the annotation. The Events say what
    was created and what was refused."""
    rules = template_rules(body)
    if rules == ():
        return ()
    events: list[Event] = []
    again = False
    if isinstance(rules, str):
        events.append(("Warning", "TemplateRulesUnreadable", f"{rules}; no BuildRule created from it"))
        rules = ()
    for rule in rules:
        name = rule["metadata"]["name"]
        try:
            created = kube.create(rule)
        except ApiException as error:
            if retriable(error.status):
                again = True  # the next reconcile (within a minute) tries again
                continue
            events.append(("Warning", "BuildRuleRefused", f"BuildRule {name}: {api_message(error)}"))
            continue
        if created is not None:
            events.append(
                ("Normal", "BuildRuleCreated", f"BuildRule {name} created from the tenant's template")
            )
    if not again:
        meta = body["metadata"]
        patch = {"metadata": {"annotations": {ANNOTATION_TEMPLATE_BUILDRULES: None}}}
        try:
            kube.merge_patch(API_VERSION, REPOSITORY.kind, meta["name"], meta["namespace"], patch)
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing left to complete
                raise
    return tuple(events)
