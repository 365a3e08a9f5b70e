"""Atomic file writes for run directories: a reader (or a crash) never sees a half-written file.

The one implementation that apps and run-directory libraries share (run.json, losses.csv
rewrites, samples.png, comparison.png, metrics.json, eval.json).
"""

import json
import os
import tempfile
from typing import Any


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Writes `data` to `path` via a temporary file in the same directory and a rename.

    Raises:
      OSError: the directory is missing or not writable (the temporary file is removed).
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str, text: str) -> None:
    """write_bytes_atomic for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str, record: dict[str, Any]) -> str:
    """Writes `record` as indented, key-sorted JSON (and a final newline) to `path`, atomically.

    Sorted keys make the bytes a function of the content alone, so two runs that record the
    same values write the same file (run.json, metrics.json, eval.json). Floats are written
    with repr precision: read back, they are bitwise the floats written.

    Returns:
      `path`.

    Raises:
      OSError: as write_bytes_atomic.
    """
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path
