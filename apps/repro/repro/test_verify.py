"""`repro verify` on tiny real runs of the GAN and the classifier: an untouched run verifies
(every segment re-executed); a flipped bit in a checkpoint, an edited losses.csv row and another
run's run.json are found without training; a forged history (a checkpoint and its manifest entry
rewritten together) is exposed by re-execution, which names the first divergent step; a run
made on two processes verifies on one. Re-executions start processes: the GAN's untouched run
in the quick tier, the rest in the slow one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from repro import verify as verify_lib
from repro.main import main
from run_record import manifest


def _manifest(run_dir: str) -> manifest.Manifest:
    found = manifest.read_manifest(run_dir)
    assert found is not None
    return found


# Checkpoints at 0, 2 and 4, all kept in archive/: two segments.
SEGMENTED = (
    "--max_train_steps=4",
    "--save_checkpoints_steps=2",
    "--keep_checkpoint_max=1",
    "--keep_checkpoints_every=2",
    "--log_step_count_steps=1",
    "--buffer_size=256",
)


# The tiny runs: (app, its options class, its flags, a tensor of its to tamper with).
APPS = {
    "mnist_gan": ("GanOptions", ("--width_divisor=16",), "Generator/fc1/kernel"),
    "mnist_classifier": ("ClassifierOptions", (), "classifier/fc1/kernel"),
}


def _tiny_run(run_here, app: str, root, tiny_idx_dir: str) -> str:
    import importlib

    options = getattr(importlib.import_module(f"{app}.options"), APPS[app][0])
    model_dir = str(root / app)
    run_here(
        app,
        options,
        [
            *SEGMENTED,
            *APPS[app][1],
            "--batch_size=8",
            f"--mnist_idx_dir={tiny_idx_dir}",
            f"--data_dir={root / 'data'}",
            f"--model_dir={model_dir}",
        ],
    )
    return model_dir


@pytest.fixture(scope="module")
def gan_run(run_here, tiny_idx_dir, tmp_path_factory) -> str:
    return _tiny_run(run_here, "mnist_gan", tmp_path_factory.mktemp("verify"), tiny_idx_dir)


@pytest.fixture(scope="module")
def classifier_run(run_here, tiny_idx_dir, tmp_path_factory) -> str:
    return _tiny_run(run_here, "mnist_classifier", tmp_path_factory.mktemp("verify"), tiny_idx_dir)


@pytest.fixture(params=sorted(APPS))
def tiny_run(request) -> tuple[str, str]:
    """(app, run dir): each app's tiny run."""
    fixture = "gan_run" if request.param == "mnist_gan" else "classifier_run"
    return request.param, request.getfixturevalue(fixture)


def _copy(run_dir: str, dst) -> str:
    return shutil.copytree(run_dir, str(dst))


def _rewrite(prefix: str, change) -> None:
    """Rewrites the checkpoint at `prefix` with `change(tensors)` applied."""
    reader = tf.train.load_checkpoint(prefix)
    names = sorted(reader.get_variable_to_shape_map())
    tensors = {n: reader.get_tensor(n) for n in names}
    change(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tensors[n] for n in names],
    )


def _flipper(name: str):
    def flip(tensors: dict) -> None:
        tensors[name].view(np.uint32)[3, 7] ^= 1  # one bit of one element

    return flip


def _forge(tensors: dict) -> None:
    tensors["Generator/fc1/kernel"] *= 1.5  # weights that would have trained otherwise


@pytest.mark.slow
@pytest.mark.parametrize("app", sorted(APPS))
def test_an_untouched_run_verifies_with_all(app, gan_run, classifier_run, tmp_path) -> None:
    run = gan_run if app == "mnist_gan" else classifier_run
    assert main(["verify", run, "--all", "--runs_root", str(tmp_path)]) == 0


def test_an_untouched_run_verifies_a_sample(gan_run, tmp_path, capsys) -> None:
    report = tmp_path / "verify.json"
    assert (
        main(
            [
                "verify",
                gan_run,
                "--segments",
                "1",
                "--seed",
                "3",
                "--runs_root",
                str(tmp_path / "runs"),
                "--report",
                str(report),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "stored: the 3 kept checkpoints and 4 losses.csv rows match the manifest" in out
    assert "re-executing 1 of 2 segments (sample seed 3)" in out
    assert re.search(
        r"segment (0 -> 2|2 -> 4): reproduced \(2 rows, 91 tensors bitwise equal", out
    ), out
    root = _manifest(gan_run).root
    assert out.rstrip().endswith(f"root {root}; report {report}") and "VERIFIED: 1 of 2" in out
    written = json.loads(report.read_text())
    assert written["verified"] and written["root"] == root and written["sample_seed"] == 3


def test_a_flipped_bit_and_an_edited_row_are_named_without_training(tiny_run, tmp_path) -> None:
    app, original = tiny_run
    run = _copy(original, tmp_path / "tampered")
    _rewrite(os.path.join(run, "archive", "model.ckpt-2"), _flipper(APPS[app][2]))
    with open(os.path.join(run, "losses.csv")) as f:
        lines = f.read().splitlines()
    step, *values = lines[3].split(",")
    lines[3] = ",".join([step, repr(float(np.float32(values[0]) * 2)), *values[1:]])
    with open(os.path.join(run, "losses.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    problems = verify_lib.check_stored(verify_lib.load_run(run))
    assert problems == [
        f"{run}/archive/model.ckpt-2: tensor '{APPS[app][2]}' does not match the manifest",
        f"{run}/losses.csv: step 3 does not match the manifest",
    ]
    assert verify_lib.check_stored(verify_lib.load_run(original)) == []


def test_another_runs_run_json_is_refused_by_its_identity(tiny_run, tmp_path, capsys) -> None:
    run = _copy(tiny_run[1], tmp_path / "other")
    record = json.loads(open(os.path.join(run, "run.json")).read())
    record["identity"]["random_seed"] = 124
    with open(os.path.join(run, "run.json"), "w") as f:
        json.dump(record, f)
    assert main(["verify", run]) == 2
    assert capsys.readouterr().err == (
        f"repro verify: error: {run}: run.json is another run's than manifest.json "
        "(identity.random_seed: 123 in the manifest, 124 in run.json)\n"
    )
    os.remove(os.path.join(run, "manifest.json"))
    assert main(["verify", run]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def _forge_entry(run: str, step: int) -> None:
    """Rewrites checkpoint `step`'s manifest entry from its (forged) tensors, rows unchanged."""
    from run_compare.checkpoints import tensor_digests

    forged = _manifest(run)
    prefix = os.path.join(run, "archive", f"model.ckpt-{step}")
    entries = [
        dataclasses.replace(e, tensors=tensor_digests(prefix)) if e.step == step else e
        for e in forged.entries
    ]
    manifest.write_manifest(run, dataclasses.replace(forged, entries=entries))


@pytest.mark.slow
def test_a_forged_history_is_exposed_by_reexecution(gan_run, tmp_path) -> None:
    """Checkpoint 2 and its entry rewritten together: the stored check passes; re-executing
    0 -> 2 gives the true checkpoint 2, and 2 -> 4, trained from the forged one, diverges from
    the recorded rows at step 3."""
    run = _copy(gan_run, tmp_path / "forged")
    _rewrite(os.path.join(run, "archive", "model.ckpt-2"), _forge)
    _forge_entry(run, 2)
    loaded = verify_lib.load_run(run)
    assert verify_lib.check_stored(loaded) == []
    assert loaded.manifest.root != _manifest(gan_run).root  # the cited root moved
    first = verify_lib.reexecute(loaded, 0, 2, runs_root=str(tmp_path / "r"), local_workers=0)
    assert not first["reproduced"] and first["tensors_differing"] == ["Generator/fc1/kernel"]
    assert first["first_divergent_step"] is None
    second = verify_lib.reexecute(loaded, 2, 4, runs_root=str(tmp_path / "r"), local_workers=0)
    assert not second["reproduced"] and second["first_divergent_step"] == 3
    assert verify_lib.segment_line(second).startswith(
        "segment 2 -> 4: NOT reproduced: first divergent step 3 (recorded '3,"
    )


@pytest.mark.slow
def test_a_run_on_two_processes_verifies_on_one(run_module, tiny_idx_dir, tmp_path) -> None:
    model_dir = str(tmp_path / "classifier")
    run_module(
        "mnist_classifier.train",
        *SEGMENTED,
        "--batch_size=8",
        "--micro_batches=2",
        "--local_workers=2",
        f"--mnist_idx_dir={tiny_idx_dir}",
        f"--data_dir={tmp_path / 'data'}",
        f"--model_dir={model_dir}",
    )
    assert json.loads(open(os.path.join(model_dir, "run.json")).read())["cluster"]["workers"] == 2
    assert main(["verify", model_dir, "--all", "--runs_root", str(tmp_path / "runs")]) == 0
