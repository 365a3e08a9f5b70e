"""`repro` on real (3-step) mnist_gan runs on the conftest's tiny MNIST, each trained in its
own process.

One `twice` run pair and one different-seed run are shared by the module; the tampering tests
modify hard-linked copies of run A (new files replace links, so A itself is never changed).
"""

import os
import re
import shutil

import numpy as np
import pytest

import run_compare
from repro.main import main

STEPS = 3


def _flags(data_dir, idx_dir, seed: int) -> list[str]:
    return [
        f"--data_dir={data_dir}",
        f"--mnist_idx_dir={idx_dir}",
        "--buffer_size=256",
        f"--max_train_steps={STEPS}",
        f"--random_seed={seed}",
        "--keep_checkpoint_max=1",
        "--save_summary_steps=1000",
        "--width_divisor=16",
        "--batch_size=8",
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_idx_dir, repro_cli, run_here):
    """(twice's exit code, its output, run A, run B, run C with another seed)."""
    root = tmp_path_factory.mktemp("repro")
    data_dir = root / "data"
    code, out = repro_cli(
        "twice", "--runs_root", str(root / "runs"), "--", *_flags(data_dir, tiny_idx_dir, 123)
    )
    names = sorted(os.listdir(root / "runs"))
    assert len(names) == 2 and names[0].endswith("-a") and names[1].endswith("-b"), (names, out)
    run_a, run_b = (str(root / "runs" / n) for n in names)
    run_c = str(root / "seed124")  # in this process: only twice's runs need fresh ones
    from mnist_gan.options import GanOptions

    run_here(
        "mnist_gan", GanOptions, [*_flags(data_dir, tiny_idx_dir, 124), f"--model_dir={run_c}"]
    )
    return code, out, run_a, run_b, run_c


def _copy(run_dir: str, dst: str, skip_checkpoint: bool = False) -> str:
    ignore = shutil.ignore_patterns("model.ckpt-*") if skip_checkpoint else None
    shutil.copytree(run_dir, dst, copy_function=os.link, ignore=ignore)
    return dst


def test_twice_same_seed_is_bitwise_identical(runs):
    code, out, run_a, run_b, _ = runs
    assert os.path.isfile(os.path.join(run_b, "comparison.png"))
    for run in (run_a, run_b):
        assert os.path.isfile(os.path.join(run, "train.log"))
        assert run_compare.latest_checkpoint(run).endswith(f"model.ckpt-{STEPS}")
    # argv, flags.model_dir and options.model_dir
    assert "3 fields differ (0 in the run identity)" in out, out
    assert "samples.png: byte-identical" in out
    assert code == 0 and out.endswith(
        "IDENTICAL: losses, weights and results are bitwise equal\n"
    ), out


def test_different_seed_diverges_at_step_1(runs, tmp_path, repro_cli):
    _, _, run_a, _, run_c = runs
    code, out = repro_cli("compare", run_a, run_c, "--out", str(tmp_path / "seeds.png"))
    assert code == 1, out
    result = run_compare.compare_runs(run_a, run_c)
    assert [d.first_divergent_step for d in result.losses.losses] == [1, 1]
    assert out.count("first divergent step 1:") == 2
    assert {"seed", "identity.random_seed", "flags.random_seed"} <= {f.path for f in result.fields}
    assert {f.path for f in result.fields if f.identity} == {"seed", "identity.random_seed"}
    # Nearly every weight and Adam slot differs. Equal: the step counters, Adam's beta powers
    # and the critic's output bias (a Wasserstein loss has zero gradient for it).
    differing = {d.name for d in result.latest.differing}
    assert "Generator/fc1/kernel" in differing and "global_step" not in differing
    assert "Discriminator/logits/bias" not in differing
    assert len(differing) > 80, out
    assert out.rstrip().splitlines()[-1].startswith("DIFFERENT: 2 of 2 losses differ"), out
    assert os.path.getsize(tmp_path / "seeds.png") > 0


def test_copy_is_identical_and_one_changed_tensor_is_named(runs, tmp_path, repro_cli):
    import tensorflow as tf

    _, _, run_a, _, _ = runs
    code, out = repro_cli("compare", run_a, _copy(run_a, str(tmp_path / "copy")))
    assert code == 0, out

    tampered = _copy(run_a, str(tmp_path / "tampered"), skip_checkpoint=True)
    reader = tf.train.load_checkpoint(run_a)
    names = sorted(reader.get_variable_to_shape_map())
    tensors = {n: reader.get_tensor(n) for n in names}
    kernel = tensors["Generator/fc1/kernel"]
    kernel[3, 7] = np.nextafter(kernel[3, 7], np.float32(np.inf))  # one ulp, one element
    tf.raw_ops.SaveV2(
        prefix=os.path.join(tampered, f"model.ckpt-{STEPS}"),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tensors[n] for n in names],
    )
    code, out = repro_cli("compare", run_a, tampered)
    assert code == 1, out
    assert f"{len(names)} tensors compared, {len(names) - 1} bitwise equal, 1 differ" in out, out
    assert "Generator/fc1/kernel  float32 [64, 64]: 1 of 4096 elements differ" in out, out
    assert "discriminator_loss  3 of 3 steps bitwise equal" in out
    assert out.endswith(
        f"DIFFERENT: 1 of {len(names)} tensors of model.ckpt-{STEPS} differ "
        "(Generator/fc1/kernel)\n"
    ), out


def test_changed_loss_value_is_named(runs, tmp_path, repro_cli):
    _, _, run_a, _, _ = runs
    changed = _copy(run_a, str(tmp_path / "changed"))
    path = os.path.join(changed, "losses.csv")
    with open(path) as f:
        lines = f.read().splitlines()
    step, g, d = lines[2].split(",")
    assert step == "2"
    bumped = np.nextafter(np.float32(d), np.float32(np.inf))
    lines[2] = f"{step},{g},{float(bumped)!r}"
    os.remove(path)  # a hard link to A's file: replace it, never write through it
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    code, out = repro_cli("compare", run_a, changed)
    assert code == 1, out
    assert "generator_loss      3 of 3 steps bitwise equal" in out, out
    assert "discriminator_loss  2 of 3 steps bitwise equal; first divergent step 2:" in out, out
    assert f"B {run_compare.format_value(bumped)}" in out
    assert re.search(r"(\d+) tensors compared, \1 bitwise equal, 0 differ", out), out
    assert out.endswith("DIFFERENT: 1 of 2 losses differ (discriminator_loss; first at step 2)\n")


def test_bad_real_runs_exit_2(runs, tmp_path, capsys):
    _, _, run_a, _, _ = runs
    no_ckpt = _copy(run_a, str(tmp_path / "no_ckpt"), skip_checkpoint=True)
    os.remove(os.path.join(no_ckpt, "checkpoint"))
    no_losses = _copy(run_a, str(tmp_path / "no_losses"))
    os.remove(os.path.join(no_losses, "losses.csv"))
    for run, message in [
        (no_ckpt, "no checkpoint"),
        (no_losses, "no losses.csv"),
        (str(tmp_path / "nowhere"), "no such run directory"),
    ]:
        assert main(["compare", run, run_a]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
