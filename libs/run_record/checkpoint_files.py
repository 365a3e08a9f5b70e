"""A checkpoint's files copied into another directory: a worker's scratch model_dir, a verify
segment, a run's archive/. One helper, so that all three take the same files."""

import glob
import os
import shutil


def copy_checkpoint(prefix: str, directory: str, *, link: bool = False) -> list[str]:
    """Copies the files of checkpoint `prefix` (e.g. `.../model.ckpt-20`: its data shards and
    index) into `directory`, replacing same-named files; returns the new paths. Not the .meta
    graph: the process that restores the checkpoint builds and writes its own. With `link`,
    hard links where the file system allows (an archive costs no space), copies elsewhere."""
    os.makedirs(directory, exist_ok=True)
    copied = []
    for path in sorted(glob.glob(glob.escape(prefix) + ".*")):
        if path.endswith(".meta"):
            continue
        target = os.path.join(directory, os.path.basename(path))
        if os.path.lexists(target):
            os.unlink(target)
        if not (link and _hard_link(path, target)):
            shutil.copyfile(path, target)
        copied.append(target)
    return copied


def _hard_link(path: str, target: str) -> bool:
    """Whether `target` is now a hard link to `path` (not across file systems, for one)."""
    try:
        os.link(path, target)
    except OSError:
        return False
    return True
