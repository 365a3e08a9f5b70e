"""Atomic file writes for run directories: a reader (or a crash) never sees a half-written file.

The one implementation that apps and run-directory libraries share (run.json, losses.csv
rewrites, samples.png, comparison.png, eval.json).
"""

import os
import tempfile


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
