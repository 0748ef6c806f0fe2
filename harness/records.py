"""JSON round trip for the typed records that cross process boundaries."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import types
import typing


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


def from_dict(cls, data):
    """Rebuild dataclass `cls` (nested dataclasses, lists, optionals, enums) from plain data."""
    if data is None:
        return None
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _coerce(hints[f.name], data[f.name])
    return cls(**kwargs)


def _coerce(tp, value):
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(inner[0], value) if len(inner) == 1 else value
    if origin is list:
        (arg,) = typing.get_args(tp) or (typing.Any,)
        return [_coerce(arg, v) for v in value]
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    return value


def write_json(path: str, obj) -> None:
    """Write atomically: a reader sees the old file or the whole new one."""
    data = to_dict(obj) if dataclasses.is_dataclass(obj) else obj
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(tmp, path)


def read_json(path: str, cls=None):
    with open(path) as f:
        data = json.load(f)
    return from_dict(cls, data) if cls is not None else data
