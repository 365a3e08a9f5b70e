"""The environment of a child `python -m ...` that must import exactly what this process does.

Reproducing a run in a fresh process (an app's test, `repro twice`, `--local_workers`, a
benchmark variant) only means something if the child runs the same code: the same app and
libraries, from the same place. Under a Pants pex or pytest this process finds its packages
through sys.path entries that a bare `python -m` would not see, so they are handed to the
child as PYTHONPATH. Every native launcher in the repo uses this one function (the emulated
aarch64 one hands on a path of its own, repro.arm_env.project_path).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, with its import path handed to the child, plus `extra`.

    PYTHONPATH becomes this process's sys.path (absolute, in order), followed by whatever
    PYTHONPATH held before (an entry a pex left out of sys.path stays last), without
    repeats; `extra` (e.g. {"TF_CONFIG": ...}) is set on top.
    """
    env = dict(os.environ)
    paths = [os.path.abspath(p) for p in sys.path if p]
    paths += [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(extra or {})
    return env
