"""Case-insensitive, read-only view of request headers.

HTTP header names are case-insensitive, but callers may hand us a plain dict with any spelling (tests,
the CLI) or a multidict (aiohttp). The first spelling of a name wins, as with multidict's `get`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from kiln.webhooks.errors import MissingHeader


class Headers(Mapping[str, str]):
    """Headers keyed by lower-cased name; values stripped of surrounding whitespace."""

    __slots__ = ("_items",)

    def __init__(self, raw: Mapping[str, str]) -> None:
        items: dict[str, str] = {}
        # multidicts yield repeated names from items(); setdefault keeps the first one.
        for name, value in raw.items():
            items.setdefault(name.lower(), value.strip())
        self._items = items

    @classmethod
    def of(cls, raw: Mapping[str, str]) -> Headers:
        return raw if isinstance(raw, Headers) else cls(raw)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def value(self, name: str) -> str | None:
        """The header's value, or None when absent or blank (a blank header carries nothing)."""
        return self._items.get(name.lower()) or None

    def first(self, *names: str) -> str | None:
        """The value of the first of `names` that is present."""
        for name in names:
            found = self.value(name)
            if found is not None:
                return found
        return None

    def require(self, name: str) -> str:
        found = self.value(name)
        if found is None:
            raise MissingHeader(name)
        return found

    def media_type(self) -> str | None:
        """The Content-Type without parameters, lower-cased (`application/json; charset=utf-8` -> JSON)."""
        raw = self.value("Content-Type")
        if raw is None:
            return None
        return raw.split(";", 1)[0].strip().lower() or None
