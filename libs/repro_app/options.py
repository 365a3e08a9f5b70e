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
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any

from absl import flags


def option(
    default: Any,
    help_text: str,
    *,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    choices: typing.Sequence[Any] | None = None,
    positive: bool = False,
    nonempty: bool = False,
    resumable: bool = False,
) -> Any:
    """A leaf field with its flag's help, bounds and validation.

    Args:
      default: the field's (and flag's) default.
      help_text: the flag's help.
      lower_bound, upper_bound: inclusive bounds (int and float flags).
      choices: allowed values (str flags become enums; int flags check them).
      positive: the value, when not None, must be > 0.
      nonempty: a str value must not be empty.
      resumable: may differ between a run and its resume (not part of the run identity).
    """
    metadata = {
        "help": help_text,
        "lower_bound": lower_bound,
        "upper_bound": upper_bound,
        "choices": tuple(choices) if choices else None,
        "positive": positive,
        "nonempty": nonempty,
        "resumable": resumable,
    }
    return dataclasses.field(default=default, metadata=metadata)


class Checked:
    """Mixin for options dataclasses: each leaf is checked against its `option()` metadata
    (type, bounds, choices, positive, nonempty) on construction, however the options are
    built (flags, run.json, code).

    Raises (from __post_init__):
      ValueError: "<Class>.<field> must be ..., got <value>".
    """

    def __post_init__(self) -> None:
        for field, hint in _fields(type(self)):
            if dataclasses.is_dataclass(hint):
                continue
            value = getattr(self, field.name)
            problem = _leaf_problem(value, *_leaf_type(hint), field.metadata)
            if problem:
                raise ValueError(
                    f"{type(self).__name__}.{field.name} must be {problem}, got {value!r}"
                )


_KINDS = {int: "an int", float: "a number", str: "a string", bool: "a bool"}


def _leaf_problem(value: Any, base: type, optional: bool, meta: Mapping[str, Any]) -> str:
    """Why value does not fit the leaf (empty when it does)."""
    kind = _KINDS.get(base, base.__name__)
    if value is None:
        return "" if optional else kind
    if base is bool:
        return "" if isinstance(value, bool) else kind
    if isinstance(value, bool) or not isinstance(value, (int | float) if base is float else base):
        return kind
    low, high = meta.get("lower_bound"), meta.get("upper_bound")
    if base in (int, float) and not (value == value and abs(value) != float("inf")):
        return "a finite number"
    if low is not None and value < low:
        return f"{kind} >= {low}"
    if high is not None and value > high:
        return f"{kind} <= {high}"
    if meta.get("positive") and value <= 0:
        return "> 0"
    if meta.get("choices") and value not in meta["choices"]:
        return f"one of {', '.join(map(str, meta['choices']))}"
    if meta.get("nonempty") and not value:
        return "non-empty"
    return ""


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


def define_flags(
    cls: type,
    overrides: Mapping[str, Any] | None = None,
    flag_values: flags.FlagValues = flags.FLAGS,
    module_name: str | None = None,
) -> dict[str, flags.FlagHolder]:
    """Defines one flag per leaf of `cls` (default: the field's, or `overrides[name]`).

    Args:
      module_name: the module the flags belong to (its `--help` lists them); default: the
        caller's (absl names the main module by its file, as it does for its own flags).

    Returns:
      {flag name: FlagHolder}, for the app to read after parsing.
    """
    overrides = dict(overrides or {})
    if module_name is None:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        module_name = sys.argv[0] if caller == "__main__" else caller
    holders: dict[str, flags.FlagHolder] = {}
    for field, base, _ in leaves(cls):
        meta, name = field.metadata, field.name
        if name in holders:
            raise ValueError(f"{cls.__name__}: two option fields are named {name!r}")
        default = overrides.pop(name, field.default)
        kwargs: dict[str, Any] = {"flag_values": flag_values, "module_name": module_name}
        define: Any
        if base is bool:
            define = flags.DEFINE_boolean
            holder = define(name, default, meta["help"], **kwargs)
        elif base in (int, float):
            define = flags.DEFINE_integer if base is int else flags.DEFINE_float
            holder = define(
                name,
                default,
                meta["help"],
                lower_bound=meta.get("lower_bound"),
                upper_bound=meta.get("upper_bound"),
                **kwargs,
            )
            if meta.get("choices"):
                allowed = meta["choices"]
                flags.register_validator(
                    name,
                    lambda v, allowed=allowed: v in allowed,
                    flag_values=flag_values,
                    message=f"--{name} must be one of {', '.join(map(str, allowed))}",
                )
        elif meta.get("choices"):
            define = flags.DEFINE_enum
            holder = define(name, default, list(meta["choices"]), meta["help"], **kwargs)
        else:
            define = flags.DEFINE_string
            holder = define(name, default, meta["help"], **kwargs)
        if meta.get("positive"):
            flags.register_validator(
                name,
                lambda v: v is None or v > 0,
                message=f"--{name} must be > 0",
                flag_values=flag_values,
            )
        if meta.get("nonempty"):
            flags.register_validator(
                name,
                lambda v: v is None or bool(v),
                message=f"--{name} must not be empty",
                flag_values=flag_values,
            )
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
            problem = _leaf_problem(data[field.name], base, optional, field.metadata)
            if problem:
                raise OptionsError(f"{where}: must be {problem}, got {data[field.name]!r}")
            kwargs[field.name] = data[field.name]
    return cls(**kwargs)
