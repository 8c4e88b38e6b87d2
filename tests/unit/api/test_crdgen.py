"""The generated CRDs: in sync with the models, structural, deterministic."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiln.api import MODELS
from kiln.api.constants import CATEGORY, GROUP, KINDS
from kiln.api.crdgen import (
    HEADER,
    PRINTER_COLUMNS,
    UnsupportedSchema,
    crd_files,
    dump_crds,
    render_crds,
    structural,
)
from kiln.cli.generate import CRD_DIRS, write_crds

from .conftest import REPO

STALE = "CRDs are stale: run `kiln crds --write`"


@pytest.mark.parametrize("directory", CRD_DIRS, ids=str)
def test_committed_crds_match_the_models(directory: Path) -> None:
    expected = crd_files()
    on_disk = {p.name: p.read_text() for p in (REPO / directory).glob(f"{GROUP}_*.yaml")}
    assert sorted(on_disk) == sorted(expected), STALE
    for name, content in expected.items():
        assert on_disk[name] == content, f"{directory / name}: {STALE}"


def test_render_is_deterministic() -> None:
    assert render_crds() == render_crds()
    assert dump_crds() == dump_crds()


def test_dump_is_the_four_crds_in_order() -> None:
    text = dump_crds()
    assert text.startswith(HEADER)
    docs = list(yaml.safe_load_all(text))
    assert docs == render_crds()
    assert [d["spec"]["names"]["kind"] for d in docs] == [k.kind for k in KINDS]


def test_files_start_with_the_header_and_hold_one_crd() -> None:
    for name, content in crd_files().items():
        assert content.startswith(HEADER), name
        (doc,) = yaml.safe_load_all(content)
        assert doc["kind"] == "CustomResourceDefinition"
        assert "&id" not in content, f"{name}: YAML anchors"


def test_write_crds_writes_both_directories_and_removes_stale_files(tmp_path: Path) -> None:
    stale = tmp_path / "crds" / f"{GROUP}_oldkinds.yaml"
    stale.parent.mkdir()
    stale.write_text("old")
    unrelated = tmp_path / "crds" / "README.md"
    unrelated.write_text("keep me")
    written = write_crds(tmp_path)
    assert len(written) == 2 * len(KINDS)
    assert not stale.exists()
    assert unrelated.read_text() == "keep me"
    for directory in CRD_DIRS:
        assert {p.name: p.read_text() for p in (tmp_path / directory).glob("*.yaml")} == crd_files()


def test_names_scope_subresources_and_category() -> None:
    for info, crd in zip(KINDS, render_crds(), strict=True):
        spec = crd["spec"]
        assert crd["metadata"]["name"] == f"{info.plural}.{GROUP}"
        assert spec["group"] == GROUP
        assert spec["scope"] == info.scope
        assert spec["names"]["shortNames"] == list(info.short_names)
        assert spec["names"]["categories"] == [CATEGORY]
        (version,) = spec["versions"]
        assert version["subresources"] == {"status": {}}
        assert version["served"] and version["storage"]


def test_short_names_and_scopes() -> None:
    assert {k.kind: (k.short_names, str(k.scope)) for k in KINDS} == {
        "Namespace": (("kns",), "Cluster"),
        "Repository": (("krepo",), "Namespaced"),
        "BuildRule": (("brule",), "Namespaced"),
        "BuildRun": (("brun",), "Namespaced"),
    }


def _walk(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from _walk(prop, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _walk(schema[key], f"{path}[{key}]")


def _schemas() -> Iterator[tuple[str, dict[str, Any]]]:
    for crd in render_crds():
        yield from _walk(
            crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], crd["spec"]["names"]["kind"]
        )


FORBIDDEN = (
    "$ref",
    "$defs",
    "title",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "uniqueItems",
    "propertyNames",
)


def test_schemas_are_structural() -> None:
    for path, schema in _schemas():
        assert not set(FORBIDDEN) & set(schema), f"{path}: {sorted(set(FORBIDDEN) & set(schema))}"
        assert schema.get("additionalProperties") not in (True, False), path
        if schema.get("x-kubernetes-int-or-string"):
            assert "type" not in schema, path
        else:
            assert schema.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, path
        if "properties" in schema or "additionalProperties" in schema:
            assert schema["type"] == "object", path
            assert not ("properties" in schema and "additionalProperties" in schema), path
        if schema.get("type") == "array":
            assert "items" in schema, path
        if schema.get("x-kubernetes-list-type") == "map":
            item = schema["items"]
            assert set(schema["x-kubernetes-list-map-keys"]) <= set(item["required"]), path


def test_every_property_has_a_description_and_a_type() -> None:
    for path, schema in _schemas():
        for name, prop in schema.get("properties", {}).items():
            if f"{path}.{name}".count(".") == 1 and name == "metadata":
                continue  # the API server owns metadata's schema
            assert prop.get("description"), f"{path}.{name} has no description"
            assert "type" in prop or prop.get("x-kubernetes-int-or-string"), f"{path}.{name} has no type"


def test_every_model_field_has_a_description() -> None:
    seen: set[type[Any]] = set()

    def visit(model: type[Any]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            for sub in _models_in(field.annotation):
                visit(sub)

    for model in MODELS.values():
        visit(model)
    assert len(seen) > 15


def _models_in(annotation: Any) -> Iterator[type[Any]]:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _models_in(arg)
    for arg in getattr(annotation, "__metadata__", ()):
        yield from _models_in(arg)


def test_limits_are_in_the_buildrule_schema() -> None:
    crd = render_crds()[2]
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props = spec["properties"]
    assert (props["tags"]["minItems"], props["tags"]["maxItems"]) == (1, 3)
    assert props["buildArgs"]["maxProperties"] == 20
    assert props["buildArgs"]["additionalProperties"] == {"type": "string"}
    length = props["tags"]["items"]["properties"]["commitIdLength"]
    assert (length["minimum"], length["maximum"]) == (1, 40)
    assert props["platforms"]["minItems"] == 1
    assert props["platforms"]["x-kubernetes-list-type"] == "set"
    assert "linux/riscv64" in props["platforms"]["items"]["enum"]
    assert props["platforms"]["default"] == ["linux/amd64"]
    assert props["runPolicy"]["default"] == "Serial"
    assert set(spec["required"]) == {"repository", "source", "tags"}


def test_nested_object_defaults_omit_nulls() -> None:
    crd = render_crds()[1]
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["build"]["default"] == {
        "autoBuild": True,
        "noCache": False,
        "accelerated": False,
    }


def _has_path(schema: dict[str, Any], json_path: str) -> bool:
    """Whether a printer column's JSONPath (fields, `[0]`, `[?(...)]`, `['a','b']`) names declared fields."""
    node = schema
    for name, bracket in re.findall(
        r"\.([A-Za-z]+)(\[[^\]]*\])?", re.sub(r"\[\?\(.*?\)\]", "[*]", json_path)
    ):
        if name == "metadata":
            return True
        node = node.get("properties", {}).get(name)
        if node is None:
            return False
        if bracket.startswith("['"):  # a union of fields: all must exist; continue from none
            return all(f in node.get("properties", {}) for f in re.findall(r"'([^']+)'", bracket))
        if bracket:
            node = node["items"]
    return True


def test_printer_columns_name_declared_fields() -> None:
    for crd in render_crds():
        kind = crd["spec"]["names"]["kind"]
        version = crd["spec"]["versions"][0]
        schema = version["schema"]["openAPIV3Schema"]
        assert version["additionalPrinterColumns"] == PRINTER_COLUMNS[kind]
        for column in PRINTER_COLUMNS[kind]:
            assert _has_path(schema, column["jsonPath"]), f"{kind}: {column['jsonPath']}"
        assert PRINTER_COLUMNS[kind][-1]["name"] == "Age"
    assert not _has_path(schema, ".status.nope")


def test_buildrun_columns() -> None:
    names = [c["name"] for c in PRINTER_COLUMNS["BuildRun"] if not c.get("priority")]
    assert names == ["Rule", "Ref", "Commit", "Status", "Reason", "Progress", "Image", "Age"]
    status = next(c for c in PRINTER_COLUMNS["BuildRun"] if c["name"] == "Status")
    assert status["jsonPath"] == '.status.conditions[?(@.type=="Succeeded")].status'


class TestStructural:
    def test_inlines_refs_and_the_field_description_wins(self) -> None:
        schema = {
            "$defs": {
                "Sub": {"title": "Sub", "description": "class doc", "type": "object", "properties": {}}
            },
            "type": "object",
            "title": "Top",
            "properties": {"sub": {"$ref": "#/$defs/Sub", "description": "field doc"}},
        }
        assert structural(schema) == {
            "type": "object",
            "properties": {"sub": {"description": "field doc", "type": "object", "properties": {}}},
        }

    def test_optional_becomes_nullable_without_null_default(self) -> None:
        schema = {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}], "default": None}
        assert structural(schema) == {"type": "string", "nullable": True, "maxLength": 3}

    def test_int_or_string(self) -> None:
        schema = {"anyOf": [{"type": "integer"}, {"type": "string"}], "description": "q"}
        assert structural(schema) == {"description": "q", "x-kubernetes-int-or-string": True}

    def test_free_form_object_preserves_unknown_fields(self) -> None:
        schema = {"type": "object", "additionalProperties": True}
        assert structural(schema) == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

    def test_closed_object_drops_additional_properties_false(self) -> None:
        assert structural({"type": "object", "additionalProperties": False}) == {"type": "object"}

    def test_defaults_lose_null_members(self) -> None:
        schema = {"type": "object", "default": {"a": 1, "b": None, "c": [{"d": None}]}}
        assert structural(schema)["default"] == {"a": 1, "c": [{}]}

    @pytest.mark.parametrize(
        "schema",
        [
            {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
            {"const": "x"},
            {"type": "array", "uniqueItems": True, "items": {"type": "string"}},
            {"type": "object", "propertyNames": {"pattern": "x"}},
        ],
    )
    def test_refuses_what_crds_cannot_express(self, schema: dict[str, Any]) -> None:
        with pytest.raises(UnsupportedSchema):
            structural(schema)

    def test_key_order_is_fixed(self) -> None:
        schema = {"properties": {}, "type": "object", "description": "d", "required": []}
        assert list(structural(schema)) == ["description", "type", "required", "properties"]
