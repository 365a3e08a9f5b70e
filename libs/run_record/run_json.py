"""`run.json`: everything needed to tell whether two runs *should* give the same numbers."""

import json
import os
from collections.abc import Mapping
from typing import Any

from tf_determinism import write_json_atomic

RUN_JSON = "run.json"


def write_run_json(model_dir: str, record: dict[str, Any]) -> str:
    """Writes `record` as `<model_dir>/run.json` (sorted keys, atomically); returns the path."""
    return write_json_atomic(os.path.join(model_dir, RUN_JSON), record)


def update_run_json(model_dir: str, path: tuple[str, ...], value: Any) -> str:
    """Sets one (nested) entry of `<model_dir>/run.json`, e.g. path ("graph_ops", "train"),
    and rewrites the file atomically; returns its path.

    Raises:
      FileNotFoundError, ValueError: as read_run_json.
    """
    record = read_run_json(model_dir)
    node = record
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return write_run_json(model_dir, record)


def read_run_json(model_dir: str) -> dict[str, Any]:
    """Reads `<model_dir>/run.json`.

    Raises:
      FileNotFoundError: there is no run.json in model_dir.
      ValueError: run.json is not a JSON object.
    """
    path = os.path.join(model_dir, RUN_JSON)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no run.json (not a run directory?)")
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(record).__name__}")
    return record


class RunMismatchError(ValueError):
    """model_dir holds a run whose identity differs from the one about to resume it."""


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flattens nested mappings into {dotted path: leaf value}; an empty mapping is a leaf."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def check_resumable(model_dir: str, identity: dict[str, Any]) -> None:
    """Refuses to let a run with `identity` continue in model_dir unless it is the same run.

    A model_dir with no run.json and no checkpoint (new, or empty) is fine.

    Raises:
      RunMismatchError: model_dir has checkpoints but no run.json, an unreadable run.json, or a
        recorded "identity" that differs; one line naming each differing field (nested ones
        by dotted path, e.g. model.gan_type) and both values.
    """
    if not os.path.exists(os.path.join(model_dir, RUN_JSON)):
        # `checkpoint` is the index file tf.train.Saver keeps beside its checkpoints.
        if os.path.exists(os.path.join(model_dir, "checkpoint")):
            raise RunMismatchError(
                f"{model_dir}: has checkpoints but no run.json; refusing to resume it"
            )
        return
    try:
        old = read_run_json(model_dir).get("identity", {})
    except ValueError as e:
        raise RunMismatchError(str(e)) from None
    old, new = flatten(old), flatten(identity)
    diffs = [
        f"{k}: {old.get(k)!r} there, {new.get(k)!r} now"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    if diffs:
        raise RunMismatchError(
            f"{model_dir} was made by a different run ({'; '.join(diffs)}); "
            "use another --model_dir"
        )
