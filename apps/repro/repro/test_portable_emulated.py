"""The op-level proof of `tf_determinism.portable` (the slow tier): every portable op, forward
and gradient (tf_determinism.portable_proof: the apps' shapes, their largest inner dimensions,
edge cases), computed natively on x86-64 and under qemu-aarch64 (Neoverse-N1 with aarch64's
oneDNN off and on and on one core; 256-bit SVE), and under qemu-x86_64 (Haswell): bitwise
equal everywhere, while TF's own matmul, exp and inner sum on the same inputs differ between the
two architectures (so the comparison can see a difference). Needs Debian's qemu-user, and root
and the registries for the aarch64 environment the first time (build-support/debian_packages.sh;
`repro emulate` builds the environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from repro import emulate
from tf_determinism import child_env
from tf_determinism.portable_proof import CONTROLS, compare

# (label, --cpu, extra proof flags, a command prefix): every configuration against the native
# reference (oneDNN on, 2 threads).
CONFIGURATIONS = (
    ("x86 oneDNN off", None, ("--onednn=0",), ()),
    ("x86 1 thread", None, ("--threads=1",), ()),
    ("aarch64 Neoverse-N1", "neoverse-n1", (), ()),
    ("aarch64 Neoverse-N1 oneDNN on", "neoverse-n1", ("--onednn=1",), ()),
    ("aarch64 Neoverse-N1 on one core", "neoverse-n1", (), ("taskset", "-c", "0")),
    ("aarch64 SVE 256", "max,sve-default-vector-length=32", (), ()),
    ("x86 Haswell", "Haswell", (), ()),
)


def _proof(tmp_path, label: str, cpu: str | None, flags, prefix) -> dict[str, np.ndarray]:
    out = tmp_path / f"{label.replace(' ', '_')}.npz"
    python: tuple[str, ...] = (sys.executable,)
    env = child_env()
    if cpu is not None:
        how = emulate.launcher(emulate.resolve_cpu(cpu), str(tmp_path / "scratch"), print)
        python, env = how.python, dict(how.env or env)
    command = [*prefix, *python, "-m", "tf_determinism.portable_proof",
               str(tmp_path / "inputs.npz"), str(out), *flags]  # fmt: skip
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{label}: {proc.stderr[-3000:]}"
    with np.load(out) as loaded:
        return {name: loaded[name] for name in loaded.files}


@pytest.mark.slow
def test_every_portable_op_has_the_same_bits_on_x86_and_aarch64(tmp_path) -> None:
    assert shutil.which("qemu-aarch64") and shutil.which(
        "qemu-x86_64"
    ), "qemu-user is missing: run build-support/debian_packages.sh"
    subprocess.run(
        [sys.executable, "-m", "tf_determinism.portable_proof", "--make",
         str(tmp_path / "inputs.npz")], env=child_env(), check=True,
    )  # fmt: skip
    reference = _proof(tmp_path, "x86", None, (), ())
    portable = sorted(name for name in reference if name not in CONTROLS)
    assert len(portable) > 70
    differing = {}
    for label, cpu, flags, prefix in CONFIGURATIONS:
        found = compare(reference, _proof(tmp_path, label, cpu, flags, prefix))
        differing[label] = {n: u for n, u in found.items() if n not in CONTROLS}
        if label.startswith("aarch64"):  # TF's own kernels round otherwise there
            assert set(CONTROLS) <= set(found), (label, found)
        print(f"{label}: {len(portable)} portable outputs, differing {differing[label]}; "
              f"TF's own: {sorted(set(found) & set(CONTROLS))}")  # fmt: skip
    assert differing == {label: {} for label, *_ in CONFIGURATIONS}
    assert os.path.getsize(tmp_path / "inputs.npz") > 0
