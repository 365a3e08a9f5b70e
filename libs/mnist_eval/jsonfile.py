"""metrics.json / eval.json: sorted, indented JSON, written atomically (run_record's writer)."""

from __future__ import annotations

import json
from typing import Any

from tf_determinism import write_text_atomic


def write_json_atomic(path: str, record: dict[str, Any]) -> str:
    """Writes ``record`` as indented, key-sorted JSON to ``path`` (temp file + rename).

    Args:
      path: destination file; its directory must exist.
      record: a JSON-serializable dict. Floats are written with repr precision, so the values
        read back are bitwise the floats written.

    Returns:
      ``path``.
    """
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path
