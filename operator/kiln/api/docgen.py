"""The generated parts of docs/api.md: the kinds table, one field table per kind, the examples.

docs/api.md is hand-written prose with generated blocks between
`<!-- BEGIN GENERATED: <key> -->` and `<!-- END GENERATED: <key> -->`; `update_api_reference`
regenerates every block from the CRD schemas (so the reference says what the API server
enforces) and from docs/examples. Keys: `kinds`, `fields <Kind>`, `example <file name>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from kiln.api import MODELS
from kiln.api.constants import KINDS, KINDS_BY_NAME
from kiln.api.crdgen import PRINTER_COLUMNS, object_schema

_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<key>[^>]+?) -->\n).*?(<!-- END GENERATED: (?P=key) -->)", re.DOTALL
)


class UnknownBlock(ValueError):
    """A generated block whose key docgen does not know."""


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, list | dict) and not value:
        value = "[]" if isinstance(value, list) else "{}"
    elif isinstance(value, dict):
        value = ", ".join(f"{k}: {_code(v).strip('`')}" for k, v in value.items())
    elif isinstance(value, list):
        value = ", ".join(map(str, value))
    return f"`{value}`"


def _type(schema: Mapping[str, Any]) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "integer or string"
    kind = str(schema.get("type", ""))
    if kind == "array":
        return f"[]{_type(schema['items'])}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map[string]{_type(schema['additionalProperties'])}"
    if "enum" in schema:
        return " | ".join(f"`{value}`" for value in schema["enum"])
    return kind


def _constraints(schema: Mapping[str, Any]) -> list[str]:
    """Human-readable validations of a field (its items' too, for a list of scalars)."""
    notes: list[str] = []
    for key, text in (
        ("minItems", "at least {} item(s)"),
        ("maxItems", "at most {} items"),
        ("maxProperties", "at most {} entries"),
        ("minimum", "minimum {}"),
        ("maximum", "maximum {}"),
        ("minLength", "at least {} character(s)"),
        ("maxLength", "at most {} characters"),
        ("pattern", "matches `{}`"),
        ("format", "format {}"),
    ):
        if key in schema:
            notes.append(text.format(schema[key]))
    if schema.get("x-kubernetes-list-type") == "set":
        notes.append("no duplicates")
    items = schema.get("items")
    if items is not None and items.get("type") != "object":
        notes += [f"each item {note}" for note in _constraints(items)]
    return notes


def _fields(schema: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """(path, schema, required) of every field below `schema`, depth first in declaration order."""
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, prop, name in required
        if prop.get("type") == "array" and "properties" in prop.get("items", {}):
            yield from _fields(prop["items"], f"{path}[]")
        else:
            yield from _fields(prop, path)


def fields_table(kind: str) -> str:
    """The Markdown table of every spec and status field of `kind`, plus its `kubectl get` columns."""
    schema = object_schema(MODELS[kind])
    rows = ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    for top in ("spec", "status"):
        for path, prop, required in _fields(schema["properties"][top], top):
            description = prop.get("description", "")
            notes = (["**required**"] if required else []) + _constraints(prop)
            if notes:
                description += f" ({'; '.join(notes)})"
            default = _code(prop["default"]) if "default" in prop else ""
            rows.append(f"| `{path}` | {_cell(_type(prop))} | {_cell(default)} | {_cell(description)} |")
    columns = ", ".join(
        f"{c['name']}{' (wide)' if c.get('priority') else ''} `{c['jsonPath']}`"
        for c in PRINTER_COLUMNS[kind]
    )
    return "\n".join(rows) + f"\n\n`kubectl get` columns: {_cell(columns)}.\n"


def kinds_table() -> str:
    """Kind, scope, plural and short names of every kind."""
    rows = ["| Kind | Scope | Plural | Short names | Description |", "|---|---|---|---|---|"]
    for info in KINDS:
        description = MODELS[info.kind].__doc__ or ""
        short_names = ", ".join(f"`{n}`" for n in info.short_names)
        rows.append(
            f"| {info.kind} | {info.scope} | `{info.plural}` | {short_names} | {_cell(description)} |"
        )
    return "\n".join(rows) + "\n"


def example_block(text: str) -> str:
    """A docs/examples file's text as a fenced YAML block."""
    return f"```yaml\n{text.rstrip()}\n```\n"


def _block(examples: Mapping[str, str], key: str) -> str:
    what, _, arg = key.partition(" ")
    if what == "kinds" and not arg:
        return kinds_table()
    if what == "fields" and arg in KINDS_BY_NAME:
        return fields_table(arg)
    if what == "example" and arg in examples:
        return example_block(examples[arg])
    raise UnknownBlock(f"docs/api.md: unknown generated block {key!r}")


def update_api_reference(text: str, examples: Mapping[str, str]) -> str:
    """`text` (docs/api.md) with every generated block regenerated; `examples`: the docs/examples
    files by name, their text."""
    return _BLOCK.sub(lambda m: m.group(1) + _block(examples, m.group("key")) + m.group(3), text)


def generated_keys(text: str) -> list[str]:
    """The keys of the generated blocks in `text`, in order."""
    return [m.group("key") for m in _BLOCK.finditer(text)]
