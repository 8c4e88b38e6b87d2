"""The BuildRun of a manual build (`kiln build`, the console's Build button). Pure.

A manual build has no push: it builds the rule's own ref at a commit the caller resolved (the
branch head, or one it names), with the tags the rule renders, and is named `<rule>-<10 hex>` from a
nonce the caller draws, so building the same commit twice makes two runs. Admission judges it with
`kiln.api.triggers.trigger_problems`; `manual_run` asks the same function before anything is created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from kiln.api.buildrule import BuildRule
from kiln.api.buildrun import BuildRun, BuildRunSpec, TriggerType
from kiln.api.triggers import manual_refusal, trigger_problems
from kiln.api.validation import problems_of
from kiln.rules import Problem, full_ref, rule_test_report
from kiln.rules.refs import REF_PREFIXES
from kiln.webhooks.decisions import NAME_HASH_LENGTH, PlannedRun, buildrun_object, rule_run_name

_NONCE = re.compile(rf"^[0-9a-f]{{{NAME_HASH_LENGTH}}}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True)
class ManualBuild:
    """What a manual build asks for; `commit` None until the caller resolved the ref's head."""

    rule_name: str
    rule: BuildRule
    ref: str | None = None  # default: the rule's own ref
    commit: str | None = None


def rule_ref(rule: BuildRule) -> str | None:
    """The one ref a rule builds by name (`refs/heads/main`); None for a rule with a pattern."""
    source = rule.spec.source
    return None if source.name is None else full_ref(source.type, source.name)


def manual_ref(name: str, rule: BuildRule, ref: str | None) -> str | Problem:
    """The ref a manual build of rule `name` builds: `ref` (full, or short for the rule's kind of
    ref) when it is the rule's own, else the rule's ref; a Problem for a rule refused manual builds
    (worded by `manual_refusal`, as admission words it) or another ref."""
    refused = manual_refusal(name, rule)
    if refused is not None:
        return refused
    own = rule_ref(rule)
    if own is None:  # manual_refusal refuses pattern rules: unreachable for a valid rule
        return Problem("spec.source", f"BuildRule {name!r} names no ref")
    if ref is None:
        return own
    wanted = ref if ref.startswith("refs/") else REF_PREFIXES[rule.spec.source.type] + ref
    if wanted != own:
        return Problem(
            "spec.source.ref",
            f"BuildRule {name!r} builds {own} only, not {wanted}: a manual build builds its rule's own ref "
            "(leave out --ref, or build the rule of that ref; `kiln get rules` lists them)",
        )
    return own


def manual_run(
    build: ManualBuild,
    namespace: str,
    tenant: str | None,
    commit: str,
    sender: str | None,
    now: datetime,
    nonce: str,
) -> PlannedRun | list[Problem]:
    """The BuildRun of the manual build at `commit` (40 hex), or why admission would refuse it."""
    ref = manual_ref(build.rule_name, build.rule, build.ref)
    if isinstance(ref, Problem):
        return [ref]
    if not _COMMIT.match(commit):
        return [Problem("spec.source.commit", f"{commit!r} is not a full commit id (40 lowercase hex)")]
    if not _NONCE.match(nonce):
        raise ValueError(f"nonce {nonce!r} is not {NAME_HASH_LENGTH} lowercase hex characters")
    report = rule_test_report(build.rule.to_rule(), ref, commit, now)
    if report["error"]:
        return [Problem("spec.tags", str(report["error"]))]
    try:
        spec = BuildRunSpec.model_validate(
            {
                "buildRule": build.rule_name,
                "repository": build.rule.spec.repository,
                "trigger": {"type": TriggerType.MANUAL, "sender": sender},
                "source": {"ref": ref, "commit": commit},
                "tags": list(dict.fromkeys(report["tags"])),
            }
        )
    except ValidationError as error:
        return problems_of(error)
    name = rule_run_name(build.rule_name, nonce)
    manifest = buildrun_object(name, namespace, tenant, spec)
    problems = trigger_problems(BuildRun.model_validate(manifest), build.rule, sender, frozenset())
    if problems:
        return problems
    return PlannedRun(name, build.rule_name, tuple(spec.tags), manifest, ref)
