"""Strict reading of TOML tables: unknown keys, wrong types and missing fields
are refused with the dotted key path in the message."""

from __future__ import annotations

from typing import Any, TypeVar

from ceremony.errors import ConfigError

T = TypeVar("T")

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class Table:
    """A TOML table being consumed key by key; :meth:`done` refuses leftovers."""

    def __init__(self, source: str, path: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: [{path}] must be a table")
        self.source = source
        self.path = path
        self._data: dict[str, Any] = dict(data)
        self._seen: set[str] = set()

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type[T], default: T | None = None, *, required: bool = True) -> T:
        self._seen.add(key)
        if key not in self._data:
            if required and default is None:
                raise ConfigError(f"{self.source}: missing key {self._where(key)}")
            return default  # type: ignore[return-value]
        value = self._data[key]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise ConfigError(
                f"{self.source}: key {self._where(key)} must be "
                f"{_TYPE_NAMES.get(kind, kind.__name__)}"
            )
        return value

    def has(self, key: str) -> bool:
        """Whether the table sets ``key`` (without marking it as read)."""
        return key in self._data

    def optional(self, key: str, kind: type[T]) -> T | None:
        if key not in self._data:
            self._seen.add(key)
            return None
        return self.get(key, kind)

    def table(self, key: str, *, required: bool = True) -> Table:
        self._seen.add(key)
        if key not in self._data:
            if required:
                raise ConfigError(f"{self.source}: missing table [{self._where(key)}]")
            return Table(self.source, self._where(key), {})
        return Table(self.source, self._where(key), self._data[key])

    def tables(self, key: str) -> list[Table]:
        self._seen.add(key)
        items = self._data.get(key, [])
        if not isinstance(items, list):
            raise ConfigError(f"{self.source}: key {self._where(key)} must be an array of tables")
        return [Table(self.source, f"{self._where(key)}[{i}]", t) for i, t in enumerate(items)]

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise ConfigError(f"{self.source}: unknown key {self._where(unknown[0])}")
