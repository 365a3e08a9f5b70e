"""`repro check` on a reference made inside the test (the shipped one is not asserted: machines
of one kind differ, see check.py): identical -> exit 0; a tampered value -> exit 1 naming the
step; a tampered fingerprint is named."""

from __future__ import annotations

import json
import os

import pytest

import run_compare
from repro.main import main


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_idx_dir, run_here) -> str:
    """A reference made in this process (`check` reruns it in a fresh one)."""
    from mnist_gan.options import GanOptions

    root = tmp_path_factory.mktemp("check")
    flags = [
        f"--data_dir={root / 'data'}",
        f"--mnist_idx_dir={tiny_idx_dir}",
        "--buffer_size=256",
        "--max_train_steps=2",
        "--keep_checkpoint_max=1",
        "--save_summary_steps=1000",
        "--width_divisor=16",
        "--batch_size=8",
    ]
    model_dir = str(root / "made")
    os.mkdir(model_dir)
    run_here("mnist_gan", GanOptions, [*flags, f"--model_dir={model_dir}"])
    path = str(root / "reference.json")
    run_compare.write_reference(path, run_compare.make_reference(model_dir, flags, "test"))
    return path


def _tampered(path: str, dst: str, change) -> str:
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    change(record)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(record, f)
    return dst


def test_check_identical_then_tampered(reference, tmp_path, repro_cli) -> None:
    code, out = repro_cli("check", "--reference", reference, "--runs_root", str(tmp_path / "a"))
    assert code == 0, out
    assert "this machine reproduces the reference bit for bit (2 steps, " in out

    def flip(record):
        value = record["losses"]["discriminator_loss"]["2"]
        record["losses"]["discriminator_loss"]["2"] = f"{int(value, 16) ^ 1:08x}"
        record["fingerprint"]["host.cpu.model_name"] = "Other CPU"

    bad = _tampered(reference, str(tmp_path / "bad.json"), flip)
    code, out = repro_cli("check", "--reference", bad, "--runs_root", str(tmp_path / "b"))
    assert code == 1, out
    assert "first divergent step: 2 (discriminator_loss)" in out
    assert "checkpoint tensors: 0 of " in out
    assert "host.cpu.model_name: reference 'Other CPU', here " in out
    assert "does NOT reproduce the reference" in out


def test_check_bad_reference_is_exit_2(tmp_path, capsys) -> None:
    path = tmp_path / "x.json"
    path.write_text("{}")
    assert main(["check", "--reference", str(path)]) == 2
    assert "not a reproducible-reference/1 record" in capsys.readouterr().err
    assert main(["check", "--write_reference", str(tmp_path / "r.json")]) == 2


def test_each_app_ships_a_portable_reference_and_the_mode_must_match(capsys) -> None:
    from repro import check as check_lib
    from repro.apps import APPS

    for app in APPS:
        portable = check_lib.shipped_reference_path(app, "portable")
        assert portable.endswith(f"references/{app}-portable.json")
        assert "--numerics=portable" in run_compare.read_reference(portable)["flags"]
        fast = run_compare.read_reference(check_lib.shipped_reference_path(app))
        assert "--numerics=portable" not in fast["flags"]
    fast_path = check_lib.shipped_reference_path("text_lm")
    assert main(["check", "--numerics=portable", "--reference", fast_path]) == 2
    assert "is a reference of the fast numerics mode, not of portable" in capsys.readouterr().err
