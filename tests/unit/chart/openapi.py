"""Kubernetes 1.20.2's own OpenAPI definitions of the kinds the chart renders, as JSON Schema.

kubernetes-validate ships schemas from Kubernetes 1.25 on only, so the chart's manifests are also
checked against the API of the oldest Kubernetes Kiln supports, 1.20.2 (the local cluster's). The
definitions in `kubernetes-1.20.2-openapi.json` are those reachable from the rendered kinds, taken
from `api/openapi-spec/swagger.json` of Debian's kubernetes 1.20.2 source package (the one
`hack/control-plane.sh build` compiles), descriptions dropped. To write the file again (e.g. for a
kind the chart starts to render):

    python -m tests.unit.chart.openapi SWAGGER_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema

TRIMMED = Path(__file__).with_name("kubernetes-1.20.2-openapi.json")
VERSION = "1.20.2"
# (apiVersion, kind) the chart renders (templates and crds/)
KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
    ("policy/v1beta1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
)
# types whose JSON is not what their swagger type says
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_ANY_JSON = (
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
)


def _gvk(api_version: str, kind: str) -> dict[str, str]:
    group, _, version = api_version.rpartition("/")
    return {"group": group, "version": version, "kind": kind}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _stripped(node: Any) -> Any:
    """The schema without its descriptions (a property named `description` stays)."""
    if isinstance(node, list):
        return [_stripped(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _stripped(v) for k, v in node.items() if k not in ("description", "properties")}
    if "properties" in node:
        out["properties"] = {name: _stripped(v) for name, v in node["properties"].items()}
    return out


def trim(swagger: dict[str, Any]) -> dict[str, Any]:
    """The definitions reachable from KINDS, and which definition each kind is."""
    definitions: dict[str, Any] = swagger["definitions"]
    roots: dict[str, str] = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind") or ():
            for api_version, kind in KINDS:
                if gvk == _gvk(api_version, kind):
                    roots[f"{api_version} {kind}"] = name
    missing = {f"{a} {k}" for a, k in KINDS} - set(roots)
    if missing:
        raise ValueError(f"not in this OpenAPI: {sorted(missing)}")
    keep: set[str] = set()
    pending = set(roots.values())
    while pending:
        name = pending.pop()
        keep.add(name)
        pending |= _refs(definitions[name]) - keep
    return {
        "source": f"Kubernetes {VERSION} api/openapi-spec/swagger.json (Debian's kubernetes source package)",
        "kinds": dict(sorted(roots.items())),
        "definitions": {name: _stripped(definitions[name]) for name in sorted(keep)},
    }


def _strict(node: Any) -> Any:
    """Swagger 2.0 definitions as JSON Schema that refuses unknown fields, as the API server's
    strict field validation (and kubernetes-validate's strict mode) does."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-") and k != "properties"}
    if "properties" in node:
        out["properties"] = {name: _strict(v) for name, v in node["properties"].items()}
    if "$ref" in out:
        return {"$ref": out["$ref"]}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def validator(trimmed: dict[str, Any], api_version: str, kind: str) -> jsonschema.Draft4Validator:
    definitions = {name: _strict(d) for name, d in trimmed["definitions"].items()}
    definitions[_INT_OR_STRING] = {"type": ["integer", "string"]}
    definitions[_QUANTITY] = {"type": ["string", "number"]}
    for name in _ANY_JSON:
        definitions[name] = {}
    root = trimmed["kinds"][f"{api_version} {kind}"]
    schema = {"$ref": f"#/definitions/{root}", "definitions": definitions}
    return jsonschema.Draft4Validator(schema)


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(TRIMMED.read_text())
    return data


if __name__ == "__main__":
    TRIMMED.write_text(json.dumps(trim(json.loads(Path(sys.argv[1]).read_text())), indent=1) + "\n")
    print(f"wrote {TRIMMED}")
