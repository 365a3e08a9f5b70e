"""Nested, frozen run options: one flag per leaf field, run.json round trip, run identity.

An app declares its options as frozen dataclasses whose leaf fields carry their flag's help in
`option(...)` metadata, grouped like TF Model Garden's configs (data / model / schedule /
numerics). From that one declaration:
  * `define_flags(cls)` defines one absl flag per leaf, named like the field (flag names are
    therefore unique across groups);
  * `from_values(cls, values)` builds the options from {flag name: value}, no field listed by
    hand;
  * `to_dict` / `from_dict` write and strictly read them back (run.json; `--eval`), naming the
    field that does not fit;
  * `identity(opts)` is what must match for a run to resume: every leaf not marked
    `resumable=True` (how long to train, how often to log or save, where files live, I/O
    parallelism: none of them changes a number the run computes).

This module never reads FLAGS: apps hand it the parsed values.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from absl import flags


def option(default: Any, help_text: str, *, lower_bound: float | None = None,
           upper_bound: float | None = None, choices: typing.Sequence[str] | None = None,
           positive: bool = False, nonempty: bool = False, resumable: bool = False) -> Any:
    """A leaf field with its flag's help, bounds and validation.

    Args:
      default: the field's (and flag's) default.
      help_text: the flag's help.
      lower_bound, upper_bound: inclusive bounds (int and float flags).
      choices: allowed values (str flags become enums).
      positive: the value, when not None, must be > 0.
      nonempty: a str value must not be empty.
      resumable: may differ between a run and its resume (not part of the run identity).
    """
    metadata = {"help": help_text, "lower_bound": lower_bound, "upper_bound": upper_bound,
                "choices": tuple(choices) if choices else None, "positive": positive,
                "nonempty": nonempty, "resumable": resumable}
    return dataclasses.field(default=default, metadata=metadata)


def _leaf_type(hint: Any) -> tuple[type, bool]:
    """(base type, optional) of a leaf annotation such as `int`, `float | None`."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported option type {hint!r}")
        return args[0], True
    return hint, False


def _fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def leaves(cls: type) -> list[tuple[dataclasses.Field, type, bool]]:
    """Every leaf field of a nested options class: (field, base type, optional), in order."""
    found = []
    for field, hint in _fields(cls):
        if dataclasses.is_dataclass(hint):
            found.extend(leaves(hint))
        else:
            found.append((field, *_leaf_type(hint)))
    return found


def define_flags(cls: type, overrides: Mapping[str, Any] | None = None,
                 flag_values: flags.FlagValues = flags.FLAGS) -> dict[str, flags.FlagHolder]:
    """Defines one flag per leaf of `cls` (default: the field's, or `overrides[name]`).

    Returns:
      {flag name: FlagHolder}, for the app to read after parsing.
    """
    overrides = dict(overrides or {})
    holders: dict[str, flags.FlagHolder] = {}
    for field, base, _ in leaves(cls):
        meta, name = field.metadata, field.name
        if name in holders:
            raise ValueError(f"{cls.__name__}: two option fields are named {name!r}")
        default = overrides.pop(name, field.default)
        kwargs = {"flag_values": flag_values}
        if base is bool:
            holder = flags.DEFINE_boolean(name, default, meta["help"], **kwargs)
        elif base in (int, float):
            define = flags.DEFINE_integer if base is int else flags.DEFINE_float
            holder = define(name, default, meta["help"], lower_bound=meta.get("lower_bound"),
                            upper_bound=meta.get("upper_bound"), **kwargs)
        elif meta.get("choices"):
            holder = flags.DEFINE_enum(name, default, list(meta["choices"]), meta["help"],
                                       **kwargs)
        else:
            holder = flags.DEFINE_string(name, default, meta["help"], **kwargs)
        if meta.get("positive"):
            flags.register_validator(name, lambda v: v is None or v > 0,
                                     message=f"--{name} must be > 0", flag_values=flag_values)
        if meta.get("nonempty"):
            flags.register_validator(name, bool, message=f"--{name} must not be empty",
                                     flag_values=flag_values)
        holders[name] = holder
    if overrides:
        raise ValueError(f"{cls.__name__}: no option fields {sorted(overrides)}")
    return holders


def from_values(cls: type, values: Mapping[str, Any]) -> Any:
    """Builds `cls` from {leaf name: value} (e.g. the parsed flags); missing leaves keep their
    defaults."""
    kwargs = {}
    for field, hint in _fields(cls):
        if dataclasses.is_dataclass(hint):
            kwargs[field.name] = from_values(hint, values)
        elif field.name in values:
            kwargs[field.name] = values[field.name]
    return cls(**kwargs)


def to_dict(opts: Any) -> dict[str, Any]:
    """The nested {group: {leaf: value}} form written to run.json."""
    return dataclasses.asdict(opts)


def flat(opts: Any) -> dict[str, Any]:
    """{leaf name: value}: the flags that reproduce `opts`."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(opts):
        value = getattr(opts, field.name)
        out.update(flat(value) if dataclasses.is_dataclass(value) else {field.name: value})
    return out


def identity(opts: Any, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The nested options minus the `resumable` leaves: what a resume must match.

    Args:
      opts: the options.
      keep: leaf names that are identity for this app although marked resumable (e.g. the
        classifier's max_train_steps, which is also its learning-rate decay length).
    """
    out: dict[str, Any] = {}
    for field in dataclasses.fields(opts):
        value = getattr(opts, field.name)
        if dataclasses.is_dataclass(value):
            out[field.name] = identity(value, keep)
        elif not field.metadata.get("resumable") or field.name in keep:
            out[field.name] = value
    return out


class OptionsError(ValueError):
    """A stored options object that does not fit the options class; names the field."""


def _check_leaf(path: str, value: Any, base: type, optional: bool) -> None:
    if value is None and optional:
        return
    ok = (isinstance(value, bool) if base is bool else
          not isinstance(value, bool) and isinstance(value, int | float) if base is float else
          not isinstance(value, bool) and isinstance(value, base))
    if not ok:
        raise OptionsError(f"{path}: expected {base.__name__}{' or null' if optional else ''}, "
                           f"got {value!r}")


def from_dict(cls: type, data: Any, path: str = "options") -> Any:
    """Strictly rebuilds `cls` from its `to_dict` form: every field present, no other key,
    every leaf of the declared type.

    Raises:
      OptionsError: naming the dotted path of the first field that does not fit.
    """
    if not isinstance(data, Mapping):
        raise OptionsError(f"{path}: expected an object, got {data!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise OptionsError(f"{path}.{unknown[0]}: not an option of this app")
    kwargs = {}
    for field, hint in _fields(cls):
        where = f"{path}.{field.name}"
        if field.name not in data:
            raise OptionsError(f"{where}: missing")
        if dataclasses.is_dataclass(hint):
            kwargs[field.name] = from_dict(hint, data[field.name], where)
        else:
            base, optional = _leaf_type(hint)
            _check_leaf(where, data[field.name], base, optional)
            kwargs[field.name] = float(data[field.name]) if base is float and data[
                field.name] is not None else data[field.name]
    try:
        return cls(**kwargs)
    except ValueError as e:
        raise OptionsError(f"{path}: {e}") from None
