"""Where and with what a run was made: versions, git commit, host (the provenance in run.json)."""

import os
import platform
import socket
import subprocess
from collections.abc import Sequence
from importlib import metadata

# Distributions that compute numbers in this repo's runs. TensorFlow is "tensorflow-cpu" on
# Linux x86-64, "tensorflow" on macOS, and "tensorflow" with "tensorflow-cpu-aws" (the build
# with the Arm Compute Library) on Linux aarch64 (see 3rdparty/python/BUILD); whichever are
# installed are reported, so run.json names the wheel that computed.
DEFAULT_DISTRIBUTIONS = (
    "tensorflow-cpu",
    "tensorflow",
    "tensorflow-cpu-aws",
    "tensorflow-estimator",
    "tensorflow-gan",
    "tensorflow-probability",
    "numpy",
)


def versions(distributions: Sequence[str] = DEFAULT_DISTRIBUTIONS) -> dict[str, str]:
    """{"python": ..., "<dist_name>": version} for each installed distribution (from metadata,
    since e.g. tensorflow_estimator has no __version__)."""
    found = {"python": platform.python_version()}
    for dist in distributions:
        try:
            found[dist.replace("-", "_")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def git_commit() -> str | None:
    """HEAD of the checkout the run was started from (cwd: `./pants run` runs in the repo root,
    while the code itself sits in a pex venv), else of this file's checkout; None outside git."""
    for where in (os.getcwd(), os.path.dirname(os.path.abspath(__file__))):
        try:
            out = subprocess.run(
                ["git", "-C", where, "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.stdout.strip():
            return out.stdout.strip()
    return None


def host() -> dict[str, object]:
    """The machine: name, platform, CPU and core count."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }


def provenance() -> dict[str, object]:
    """{"versions", "git_commit", "host"} for run.json."""
    return {"versions": versions(), "git_commit": git_commit(), "host": host()}
