"""The BuildRules of a Repository an organization delivery created, completed by the operator.

The receiver creates the Repository and then its BuildRules; if the API server refuses one for a
moment, or the receiver stops in between, the delivery fails and the Repository lacks rules. So the
Repository names the template rules it is to have (`kiln.webhooks.organization.
ANNOTATION_TEMPLATE_BUILDRULES`) and the operator creates, from the tenant's template, any that do
not exist; then it removes the annotation, and from then on a rule deleted by hand stays deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from kiln.api.constants import API_VERSION, REPOSITORY
from kiln.platform.kube import Kube, api_message, retriable
from kiln.tenancy.tenant import Tenant
from kiln.webhooks.organization import ANNOTATION_TEMPLATE_BUILDRULES, pending_template_rules

Event = tuple[str, str, str]
RETRY = "tried again within a minute"


def complete_template_rules(kube: Kube, body: Mapping[str, Any], tenant: Tenant | None) -> tuple[Event, ...]:
    """Create the Repository `body`'s template BuildRules that are missing. The annotation then
    names only those to try again (the API server could not take them now); it is removed when none
    is left. Never raises for what the API server answers: the rest of the reconcile goes on."""
    if tenant is None or tenant.spec is None:
        return ()  # the tenant not known yet, or its spec unreadable: the next reconcile
    pending = pending_template_rules(body, tenant.name, tenant.spec.repository_template)
    if pending is None:
        return ()
    events: list[Event] = [
        ("Warning", "TemplateRuleUnavailable", f"{problem}; no BuildRule made of it")
        for problem in pending.problems
    ]
    again: list[str] = []
    prefix = f"{body['metadata']['name']}-"
    for rule in pending.manifests:
        name = rule["metadata"]["name"]
        try:
            created = kube.create(rule)
        except _FAILURES as error:
            retry, why = _failure(error)
            if retry:
                again.append(name.removeprefix(prefix))
                events.append(("Warning", "BuildRuleCreateFailed", f"BuildRule {name}: {why}; {RETRY}"))
            else:
                events.append(("Warning", "BuildRuleRefused", f"BuildRule {name}: {why}"))
            continue
        if created is not None:
            events.append(
                ("Normal", "BuildRuleCreated", f"BuildRule {name} created from the tenant's template")
            )
    remaining = ",".join(again) or None
    if remaining != body["metadata"]["annotations"][ANNOTATION_TEMPLATE_BUILDRULES]:
        events.extend(_annotate(kube, body, remaining))
    return tuple(events)


def _annotate(kube: Kube, body: Mapping[str, Any], value: str | None) -> tuple[Event, ...]:
    """Set (None: remove) the annotation. Whatever stops it (admission covers Repository updates
    and fails closed; RBAC), the next reconcile tries again; a refusal is said in a Warning."""
    meta = body["metadata"]
    patch = {"metadata": {"annotations": {ANNOTATION_TEMPLATE_BUILDRULES: value}}}
    try:
        kube.merge_patch(API_VERSION, REPOSITORY.kind, meta["name"], meta["namespace"], patch)
    except _FAILURES as error:
        retry, why = _failure(error)
        if retry or (isinstance(error, ApiException) and error.status == 404):  # 404: deleted meanwhile
            return ()
        message = f"annotation {ANNOTATION_TEMPLATE_BUILDRULES} not updated: {why}; {RETRY}"
        return (("Warning", "TemplateRulesNotUpdated", message),)
    return ()


# what a call to the API server can end in besides an answer it gives
_FAILURES = (ApiException, urllib3.exceptions.HTTPError, OSError)


def _failure(error: Exception) -> tuple[bool, str]:
    """Whether the call may succeed when tried again, and what went wrong, in one line."""
    if isinstance(error, ApiException):
        return retriable(error.status), api_message(error)
    return True, type(error).__name__  # no answer at all
