"""Configuration dataclasses to and from plain dicts, as checkpoints keep them in their JSON metadata."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, TypeVar, get_type_hints

ConfigT = TypeVar("ConfigT", bound="DictConfig")


class DictConfig:
    """Base of the configuration dataclasses: ``to_dict``, and a ``from_dict`` that refuses keys
    that are not fields (a misspelt or retired setting is an error, never silently dropped) and
    builds nested configurations from their own dicts."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[ConfigT], values: Mapping[str, Any]) -> ConfigT:
        unknown = sorted(set(values) - {field.name for field in fields(cls)})
        if unknown:
            raise ValueError(f"unknown {cls.__name__} settings: {', '.join(unknown)}")
        hints = get_type_hints(cls)
        return cls(**{name: _nested(hints[name], value) for name, value in values.items()})


def _nested(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and issubclass(hint, DictConfig) and isinstance(value, Mapping):
        return hint.from_dict(value)
    return value
