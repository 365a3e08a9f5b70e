"""Atomic binary writes: a reader (or a crash) never sees a half-written comparison.png."""

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
