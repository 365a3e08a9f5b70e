"""child_env: a child `python -m` imports what this process imports (no TensorFlow)."""

from __future__ import annotations

import os
import subprocess
import sys

from tf_determinism import child_env


def test_the_child_path_is_this_sys_path_then_the_old_pythonpath(monkeypatch, tmp_path) -> None:
    extra_dir, old_dir = str(tmp_path / "first"), str(tmp_path / "old")
    monkeypatch.syspath_prepend(extra_dir)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([old_dir, extra_dir]))
    monkeypatch.delenv("TF_CONFIG", raising=False)
    env = child_env({"TF_CONFIG": "{}"})
    paths = env["PYTHONPATH"].split(os.pathsep)
    assert paths[0] == extra_dir and paths[-1] == old_dir
    assert len(paths) == len(set(paths)) and all(os.path.isabs(p) for p in paths)
    assert env["TF_CONFIG"] == "{}" and "TF_CONFIG" not in os.environ  # os.environ untouched


def test_a_child_imports_the_same_module_file(monkeypatch, tmp_path) -> None:
    (tmp_path / "only_here.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import only_here, tf_determinism; "
            "print(only_here.__file__); print(tf_determinism.__file__)",
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import tf_determinism

    assert out.split() == [str(tmp_path / "only_here.py"), tf_determinism.__file__]
