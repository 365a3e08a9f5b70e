"""`run.json`: everything needed to tell whether two runs *should* give the same numbers."""

import json
import os
from typing import Any

from run_record.atomic import write_text_atomic

RUN_JSON = "run.json"


def write_run_json(model_dir: str, record: dict[str, Any]) -> str:
    """Writes `record` as `<model_dir>/run.json` (sorted keys, atomically); returns the path."""
    path = os.path.join(model_dir, RUN_JSON)
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


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
