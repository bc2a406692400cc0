"""Typed records read from JSON files a user can edit: check every field's type, say which one is wrong.

A hand-edited ``manifest.json`` with ``"size_bytes": "12"`` must fail with one line naming
``artifacts[2].size_bytes``, not with a ``TypeError`` deep inside a benchmark. :func:`from_json`
builds a dataclass from a dict, checking each field against its annotation (``int``, ``float``,
``str``, ``bool``, ``dict``, ``list[...]``, ``X | None``, nested dataclasses, and classes with a
``from_json``); unknown keys are ignored so that newer files stay readable where they can be.
"""

from __future__ import annotations

import dataclasses
import types
import typing

from bnn_deploy.core.errors import BnnDeployError

_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    dict: "an object",
    list: "a list",
}


class SchemaError(BnnDeployError):
    """A field of a JSON record has the wrong type or is missing."""


def _fail(where: str, expected: str, value, fix: str) -> SchemaError:
    got = "null" if value is None else type(value).__name__
    return SchemaError(f"{where} is {got}, expected {expected}; {fix}")


def _check(tp, value, where: str, fix: str):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _check(arg, value, where, fix)
            except SchemaError as exc:
                errors.append(exc)
        raise errors[0]
    if tp is typing.Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise _fail(where, "a list", value, fix)
        (item,) = typing.get_args(tp) or (typing.Any,)
        return [_check(item, v, f"{where}[{i}]", fix) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value, fix)
        _, item = typing.get_args(tp) or (str, typing.Any)
        return {k: _check(item, v, f"{where}.{k}", fix) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(where, "an object", value, fix)
        return from_json(tp, value, where, fix)
    if hasattr(tp, "from_json"):
        if not isinstance(value, dict):
            raise _fail(where, "an object", value, fix)
        return tp.from_json(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _fail(where, "a number", value, fix)
        if isinstance(value, str):
            if value not in ("inf", "-inf", "nan"):
                raise _fail(where, "a number", value, fix)
            return float(value)
        return float(value)
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise _fail(where, "an integer", value, fix)
    if tp in (str, bool, dict, list) and not isinstance(value, tp):
        raise _fail(where, _NAMES[tp], value, fix)
    return value


def from_json(cls, data: dict, where: str, fix: str):
    """An instance of dataclass ``cls`` from ``data``, every field type-checked (see the module docstring)."""
    if not isinstance(data, dict):
        raise _fail(where, "an object", data, fix)
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SchemaError(f"{where} has no {f.name!r}; {fix}")
            continue
        values[f.name] = _check(hints[f.name], data[f.name], f"{where}.{f.name}", fix)
    return cls(**values)
