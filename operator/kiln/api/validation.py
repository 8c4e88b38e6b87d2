"""Validation of Kiln objects beyond what the CRDs' OpenAPI schemas can express.

One place for the admission webhook and the controllers: `validate()` checks a whole object
(the model, then the cross-field rules), `validate_update()` adds the immutability rules.
Problems name fields as camelCase paths into the object, e.g. `spec.tags[0].tag`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from kiln.api import MODELS
from kiln.api.buildrule import BuildRule, BuildRuleSettings, BuildRuleSpec, buildrule_to_rule
from kiln.api.common import KilnObject
from kiln.api.constants import API_VERSION, BUILD_RUN, NAMESPACE, REPOSITORY
from kiln.api.namespace import Namespace, NamespaceSpec
from kiln.rules import validate_rule
from kiln.rules.types import Problem

# Clearer wording than pydantic's for the errors users meet most.
_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}

# Spec fields that may not change once the object exists (Kubernetes 1.20 has no CEL to compare
# old and new objects). A BuildRun's whole spec is immutable but for these:
_IMMUTABLE: dict[str, tuple[str, ...]] = {
    NAMESPACE.kind: ("kubernetesNamespace",),
    REPOSITORY.kind: ("name",),
}
_MUTABLE_BUILD_RUN_FIELDS = ("cancel",)


def field_path(loc: Iterable[int | str]) -> str:
    """`('spec', 'tags', 0, 'tag')` -> `spec.tags[0].tag`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _problem(error: ErrorDetails) -> Problem:
    message = _MESSAGES.get(error["type"], error["msg"])
    return Problem(field_path(error["loc"]), message.removeprefix("Value error, "))


def problems_of(error: ValidationError) -> list[Problem]:
    """A model's validation error as problems naming each field: the one wording of pydantic errors
    that admission, conditions, the receiver and the CLI all use."""
    return [_problem(e) for e in error.errors()]


def _tag_problems(spec: BuildRuleSettings) -> list[Problem]:
    """`commitId: false` next to a `commitIdLength` is contradictory; say so instead of guessing."""
    return [
        Problem(f"spec.tags[{i}].commitId", "commitId is false but commitIdLength is set; drop one of them")
        for i, tag in enumerate(spec.tags)
        if tag.commit_id is False and tag.commit_id_length is not None
    ]


def _rule_problems(name: str, spec: BuildRuleSpec) -> list[Problem]:
    """The rules engine's checks of a well-typed BuildRule (fields named `spec.…`)."""
    return _tag_problems(spec) + validate_rule(buildrule_to_rule(name, spec))


def _template_problems(spec: NamespaceSpec) -> list[Problem]:
    """A Namespace's template rules get a BuildRule's checks, named by their place in the template."""
    template = spec.repository_template
    if template is None:
        return []
    problems: list[Problem] = []
    for index, rule in enumerate(template.build_rules):
        settings = rule.model_dump(exclude={"name"})
        as_spec = BuildRuleSpec.model_validate({**settings, "repository": "template"})
        where = f"spec.repositoryTemplate.buildRules[{index}]."
        problems += [
            Problem(where + p.field.removeprefix("spec."), p.message)
            for p in _rule_problems(rule.name, as_spec)
        ]
    return problems


def validate(kind: str, body: Mapping[str, Any]) -> list[Problem]:
    """Every problem of the object `body` of kind `kind` (e.g. `BuildRule`); empty: valid.

    The rules engine's checks of a BuildRule need a well-typed rule, so they run only once the
    model accepts the body. Raises ValueError for a kind that is not Kiln's.
    """
    model = MODELS.get(kind)
    if model is None:
        raise ValueError(f"unknown kind {kind!r}; Kiln's kinds are {', '.join(MODELS)}")
    try:
        obj = model.model_validate(body)
    except ValidationError as exc:
        return problems_of(exc)
    if isinstance(obj, BuildRule):
        return _rule_problems(obj.to_rule().name, obj.spec)
    if isinstance(obj, Namespace):
        return _template_problems(obj.spec)
    return []


KilnObjectT = TypeVar("KilnObjectT", bound=KilnObject)


def user_written(body: Mapping[str, Any]) -> dict[str, Any]:
    """The object without its status: status is the operator's (and holds kopf's bookkeeping), so
    only the rest is what users write and what the rules look at."""
    return {k: v for k, v in body.items() if k != "status"}


def validated(model: type[KilnObjectT], body: Mapping[str, Any]) -> KilnObjectT | list[Problem]:
    """The object through its model once `validate` finds no problem; else the problems."""
    written = user_written(body)
    problems = validate(model.INFO.kind, written)
    return problems if problems else model.model_validate(written)


def spec_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's spec as a mapping (empty when it is missing or not an object)."""
    spec = body.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def checked_spec(model: type[KilnObjectT], body: Mapping[str, Any]) -> KilnObjectT | str:
    """The object through its API model, judging only its spec (and keeping its name), or a message
    naming each invalid field. Metadata is the API server's and status the operator's: neither may
    make a controller or the receiver give up an object. The rules engine's checks of a BuildRule
    (what `validate` adds) are not run."""
    meta = body.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    try:
        return model.model_validate(
            {
                "apiVersion": API_VERSION,
                "kind": model.INFO.kind,
                "metadata": {"name": name} if name else {},
                "spec": spec_of(body),
            }
        )
    except ValidationError as error:
        return format_problems(problems_of(error))


def immutability_problems(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Problem]:
    """Fields changed by an update that may not change (old and new are whole objects)."""
    old_spec, new_spec = spec_of(old), spec_of(new)
    if kind == BUILD_RUN.kind:
        fields: Sequence[str] = sorted((set(old_spec) | set(new_spec)) - set(_MUTABLE_BUILD_RUN_FIELDS))
        why = "a BuildRun's spec is immutable except spec.cancel; create a new BuildRun instead"
    else:
        fields = _IMMUTABLE.get(kind, ())
        why = "the field is immutable; delete and recreate the object to change it"
    return [Problem(f"spec.{name}", why) for name in fields if old_spec.get(name) != new_spec.get(name)]


def validate_update(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Problem]:
    """`validate(kind, new)` plus the fields that may not change from `old`."""
    return validate(kind, new) + immutability_problems(kind, old, new)


def format_problems(problems: Sequence[Problem]) -> str:
    """One readable message naming each field, e.g. for an admission response or a condition."""
    if not problems:
        return "no problems"
    text = "; ".join(f"{p.field}: {p.message}" for p in problems)
    return text if len(problems) == 1 else f"{len(problems)} problems: {text}"
