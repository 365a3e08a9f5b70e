"""run_compare's logic and `repro`'s bad-input handling, on small synthetic runs (no training).

The real-run tests (twice, different seed, tampering) are in test_repro.py.
"""

import json
import os

import numpy as np

import run_compare
from repro.main import main
from run_compare import LossTable, compare_losses, compare_tensors, diff_records, format_value
from run_record import LossesWriter, write_run_json


def _table(steps, **values) -> LossTable:
    return LossTable("mem", list(values), np.asarray(steps, np.int64),
                     {k: np.asarray(v, np.float32) for k, v in values.items()})


def test_losses_compared_by_bits_with_first_divergent_step():
    nan_a = np.uint32(0x7FC00000).view(np.float32)
    nan_b = np.uint32(0x7FC00001).view(np.float32)  # another NaN payload: other bits
    a = _table([1, 2, 3, 4], g=[0.5, nan_a, 0.0, 1.0], d=[1.0, 2.0, 3.0, 4.0])
    same = compare_losses(a, _table([1, 2, 3, 4], g=[0.5, nan_a, 0.0, 1.0],
                                    d=[1.0, 2.0, 3.0, 4.0]))
    assert same.identical and [d.first_divergent_step for d in same.losses] == [None, None]

    b = _table([1, 2, 3, 4], g=[0.5, nan_a, -0.0, 1.0],  # -0.0 == 0.0, but not bitwise
               d=[1.0, np.nextafter(np.float32(2), np.float32(3)), 3.0, 5.0])
    result = compare_losses(a, b)
    assert not result.identical and result.same_steps
    g, d = result.losses
    assert (g.name, g.steps_compared, g.steps_equal, g.first_divergent_step) == ("g", 4, 3, 3)
    assert g.value_a.tobytes() == np.float32(0.0).tobytes()
    assert g.value_b.tobytes() == np.float32(-0.0).tobytes()
    assert (d.steps_equal, d.first_divergent_step) == (2, 2)
    assert format_value(d.value_a) == "2.0 (0x40000000)"
    assert format_value(d.value_b) == "2.000000238418579 (0x40000001)"
    assert not compare_losses(a, _table([1, 2, 3, 4], g=[0.5, nan_b, 0.0, 1.0],
                                        d=[1.0, 2.0, 3.0, 4.0])).identical

    # Different step sets or columns: compared where both exist, never "identical".
    short = compare_losses(a, _table([1, 2], g=[0.5, nan_a], e=[0.0, 0.0]))
    assert not short.identical and not short.same_steps
    assert short.common_steps.tolist() == [1, 2] and short.losses[0].identical
    assert (short.only_a, short.only_b) == (["d"], ["e"])


def test_run_json_fields_flattened_and_tagged():
    a = {"seed": 1, "identity": {"random_seed": 1, "lr": 1.0}, "flags": {"model_dir": "x"},
         "host": {"cpu_count": 2}, "argv": ["a"], "git_commit": None}
    b = {"seed": 2, "identity": {"random_seed": 2, "lr": 1}, "flags": {"model_dir": "y"},
         "host": {"cpu_count": 2}, "argv": ["a"], "versions": {"tf": "2.15.1"}}
    diffs = {d.path: d for d in diff_records(a, b)}
    assert sorted(diffs) == ["flags.model_dir", "git_commit", "identity.lr",
                             "identity.random_seed", "seed", "versions.tf"]
    assert diffs["identity.lr"].identity and diffs["seed"].identity  # 1.0 vs 1: a type change
    assert not diffs["flags.model_dir"].identity
    assert diffs["versions.tf"].value_a is run_compare.MISSING
    assert diff_records(a, json.loads(json.dumps(a))) == []


def test_tensors_compared_by_bytes():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert compare_tensors("x", x, x.copy()) is None
    y = x.copy()
    y[1, 2] = np.nextafter(y[1, 2], np.float32(100))
    diff = compare_tensors("x", x, y)
    assert (diff.elements_differing, diff.elements) == (1, 12)
    assert diff.max_abs_diff == float(y[1, 2]) - float(x[1, 2]) > 0
    z = x.copy()
    z[0, 0] = -0.0  # bits differ, values do not
    assert compare_tensors("x", x, z).max_abs_diff == 0.0
    shape = compare_tensors("x", x, x.reshape(4, 3))
    assert shape.elements_differing is None and shape.shape_b == (4, 3)
    assert compare_tensors("n", np.int64(5), np.int64(6)).max_abs_diff == 1.0
    s = compare_tensors("s", np.array([b"a", b"b"], object), np.array([b"a", b"c"], object))
    assert s.elements_differing == 1 and s.max_abs_diff is None


def _fake_run(path, with_checkpoint=True, losses=((1, 0.5, 0.25), (2, 0.125, 1.5))):
    import tensorflow as tf

    os.makedirs(path)
    write_run_json(str(path), {"seed": 1, "identity": {"random_seed": 1}})
    writer = LossesWriter(os.path.join(path, "losses.csv"), ["g", "d"])
    for step, *values in losses:
        writer.write(step, values)
    writer.close()
    if with_checkpoint:
        prefix = os.path.join(path, "model.ckpt-2")
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["global_step", "w"],
                          shape_and_slices=["", ""],
                          tensors=[tf.constant(2, tf.int64), tf.ones([2, 3])])
        with open(os.path.join(path, "checkpoint"), "w") as f:
            f.write('model_checkpoint_path: "model.ckpt-2"\n')
    return str(path)


def test_compare_exit_codes_and_bad_input(tmp_path, capsys):
    a = _fake_run(tmp_path / "a")
    b = _fake_run(tmp_path / "b")
    assert main(["compare", a, b]) == 0
    out = capsys.readouterr().out
    assert out.endswith("IDENTICAL: losses and weights are bitwise equal\n")
    assert os.path.getsize(os.path.join(b, "comparison.png")) > 0
    c = _fake_run(tmp_path / "c", losses=((1, 0.5, 0.25), (2, 0.125, 1.25)))
    assert main(["compare", a, c, "--out", str(tmp_path / "x.png")]) == 1
    out = capsys.readouterr().out
    assert "d  1 of 2 steps bitwise equal; first divergent step 2:" in out
    assert "A 1.5 (0x3fc00000)  B 1.25 (0x3fa00000)" in out
    assert os.path.isfile(tmp_path / "x.png")

    no_ckpt = _fake_run(tmp_path / "no_ckpt", with_checkpoint=False)
    no_losses = _fake_run(tmp_path / "no_losses")
    os.remove(os.path.join(no_losses, "losses.csv"))
    bad_losses = _fake_run(tmp_path / "bad_losses")
    with open(os.path.join(bad_losses, "losses.csv"), "a") as f:
        f.write("3,oops,1.0\n")
    no_json = _fake_run(tmp_path / "no_json")
    os.remove(os.path.join(no_json, "run.json"))
    gone = _fake_run(tmp_path / "gone")
    os.remove(os.path.join(gone, "model.ckpt-2.index"))
    cases = {
        str(tmp_path / "missing"): "no such run directory",
        no_ckpt: "no checkpoint",
        no_losses: "no losses.csv",
        bad_losses: "losses.csv:4: not a number",
        no_json: "no run.json",
        gone: "model.ckpt-2.index: checkpoint named in",
    }
    for run, message in cases.items():
        assert main(["compare", a, run]) == 2, run
        err = capsys.readouterr().err
        assert err.startswith(f"repro compare: error: {run}") and message in err, err
        assert err.count("\n") == 1, err  # one line
    assert main(["compare", a, b, "--", "x"]) == 2
    assert "unexpected arguments" in capsys.readouterr().err


def test_twice_refuses_model_dir_and_reports_failed_run(tmp_path, capsys):
    root = str(tmp_path / "runs")
    assert main(["twice", "--runs_root", root, "--", "--model_dir=/tmp/x"]) == 2
    assert "--model_dir=/tmp/x: twice picks the two run directories" in capsys.readouterr().err
    assert not os.path.exists(root)
    # An invalid mnist_gan flag fails in flag parsing, before TF is imported: a quick child.
    assert main(["twice", "--runs_root", root, "--", "--max_train_steps=0"]) == 2
    err = capsys.readouterr().err
    assert "mnist_gan.train exited with status 1" in err and "train.log" in err, err
    assert err.count("\n") == 1
    (run_a,) = (d for d in os.listdir(root) if d.endswith("-a"))
    assert "max_train_steps" in open(os.path.join(root, run_a, "train.log")).read()
