"""run_compare's logic on small synthetic runs (no training): losses, run.json fields and
checkpoint tensors compared by bits, and `identical_runs` on fake run directories.

`repro compare`/`repro twice` (exit codes, messages) are tested in apps/repro/repro; the
real-run tests (twice, different seed, tampering) are in apps/repro/repro/test_twice.py.
"""

import json
import os

import numpy as np
import pytest

import run_compare
from run_compare import (
    BadRunError,
    LossTable,
    compare_losses,
    compare_runs,
    compare_tensors,
    diff_records,
    format_value,
    identical_runs,
    verdict_line,
)


def _table(steps, **values) -> LossTable:
    return LossTable(
        "mem",
        list(values),
        np.asarray(steps, np.int64),
        {k: np.asarray(v, np.float32) for k, v in values.items()},
    )


def test_losses_compared_by_bits_with_first_divergent_step():
    nan_a = np.uint32(0x7FC00000).view(np.float32)
    nan_b = np.uint32(0x7FC00001).view(np.float32)  # another NaN payload: other bits
    a = _table([1, 2, 3, 4], g=[0.5, nan_a, 0.0, 1.0], d=[1.0, 2.0, 3.0, 4.0])
    same = compare_losses(a, _table([1, 2, 3, 4], g=[0.5, nan_a, 0.0, 1.0], d=[1.0, 2.0, 3.0, 4.0]))
    assert same.identical and [d.first_divergent_step for d in same.losses] == [None, None]

    b = _table(
        [1, 2, 3, 4],
        g=[0.5, nan_a, -0.0, 1.0],  # -0.0 == 0.0, but not bitwise
        d=[1.0, np.nextafter(np.float32(2), np.float32(3)), 3.0, 5.0],
    )
    result = compare_losses(a, b)
    assert not result.identical and result.same_steps
    g, d = result.losses
    assert (g.name, g.steps_compared, g.steps_equal, g.first_divergent_step) == ("g", 4, 3, 3)
    assert g.value_a.tobytes() == np.float32(0.0).tobytes()
    assert g.value_b.tobytes() == np.float32(-0.0).tobytes()
    assert (d.steps_equal, d.first_divergent_step) == (2, 2)
    assert format_value(d.value_a) == "2.0 (0x40000000)"
    assert format_value(d.value_b) == "2.000000238418579 (0x40000001)"
    assert not compare_losses(
        a, _table([1, 2, 3, 4], g=[0.5, nan_b, 0.0, 1.0], d=[1.0, 2.0, 3.0, 4.0])
    ).identical

    # Different step sets or columns: compared where both exist, never "identical".
    short = compare_losses(a, _table([1, 2], g=[0.5, nan_a], e=[0.0, 0.0]))
    assert not short.identical and not short.same_steps
    assert short.common_steps.tolist() == [1, 2] and short.losses[0].identical
    assert (short.only_a, short.only_b) == (["d"], ["e"])


def test_run_json_fields_flattened_and_tagged():
    a = {
        "seed": 1,
        "identity": {"random_seed": 1, "lr": 1.0},
        "flags": {"model_dir": "x"},
        "host": {"cpu_count": 2},
        "argv": ["a"],
        "git_commit": None,
    }
    b = {
        "seed": 2,
        "identity": {"random_seed": 2, "lr": 1},
        "flags": {"model_dir": "y"},
        "host": {"cpu_count": 2},
        "argv": ["a"],
        "versions": {"tf": "2.15.1"},
    }
    diffs = {d.path: d for d in diff_records(a, b)}
    assert sorted(diffs) == [
        "flags.model_dir",
        "git_commit",
        "identity.lr",
        "identity.random_seed",
        "seed",
        "versions.tf",
    ]
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


def test_identical_runs_on_fake_run_dirs(tmp_path, fake_run):
    a = fake_run(tmp_path / "a")
    assert identical_runs(a, fake_run(tmp_path / "same"))
    assert identical_runs(a, a)

    # One loss value one ulp off: a changed losses.csv byte, and a changed value.
    ulp = float(np.nextafter(np.float32(1.5), np.float32(2)))
    assert not identical_runs(
        a, fake_run(tmp_path / "loss", losses=((1, 0.5, 0.25), (2, 0.125, ulp)))
    )
    # One byte of losses.csv changed, same float32 values ("0.5" -> "5e-1"): the bytes decide.
    text = fake_run(tmp_path / "text")
    csv_path = os.path.join(text, "losses.csv")
    with open(csv_path) as f:
        content = f.read()
    assert "1,0.5," in content
    with open(csv_path, "w") as f:
        f.write(content.replace("1,0.5,", "1,5e-1,", 1))
    assert compare_runs(a, text).losses.identical  # the values are bitwise equal ...
    assert not identical_runs(a, text)  # ... but losses.csv is not byte-identical

    # One element of one tensor one ulp off, a -0.0 for a 0.0, or an extra tensor.
    w = np.ones([2, 3], np.float32)
    w[1, 2] = np.nextafter(w[1, 2], np.float32(2))
    assert not identical_runs(a, fake_run(tmp_path / "tensor", w=w))
    zeros = fake_run(tmp_path / "zeros", w=np.zeros([2, 3], np.float32))
    negative_zero = np.zeros([2, 3], np.float32)
    negative_zero[0, 0] = -0.0
    assert not identical_runs(zeros, fake_run(tmp_path / "negzero", w=negative_zero))
    import tensorflow as tf

    extra = fake_run(tmp_path / "extra", extra={"v": tf.zeros([1])})
    assert not identical_runs(a, extra)
    assert verdict_line(compare_runs(a, extra)).startswith("DIFFERENT")

    with pytest.raises(BadRunError, match="no such run directory"):
        identical_runs(a, str(tmp_path / "missing"))


def test_a_torn_checkpoint_is_one_line_for_compare_and_check(tmp_path, fake_run):
    a = fake_run(tmp_path / "a")
    reference = run_compare.make_reference(a, ["--max_train_steps=2"], "test")
    torn = fake_run(tmp_path / "torn")
    data = os.path.join(torn, "model.ckpt-2.data-00000-of-00001")
    os.truncate(data, os.path.getsize(data) // 2)  # a copy interrupted
    with pytest.raises(BadRunError) as compared:
        compare_runs(a, torn)
    with pytest.raises(ValueError) as checked:
        run_compare.check_against(reference, torn)
    for error in (compared.value, checked.value):
        message = str(error)
        assert message.startswith(
            os.path.join(torn, "model.ckpt-2") + ": unreadable checkpoint, tensor "
        ), message
        assert "IndexError" in message and "\n" not in message
    assert run_compare.check_against(reference, a).reproduces  # the intact one still does


def test_the_report_of_a_difference_names_the_step_column_and_tensors(tmp_path, fake_run):
    a = fake_run(tmp_path / "a")
    assert run_compare.difference_report(a, fake_run(tmp_path / "same")) is None
    ulp = float(np.nextafter(np.float32(1.5), np.float32(2)))
    w = np.ones([2, 3], np.float32)
    w[0, 1] = 3.0
    b = fake_run(tmp_path / "b", losses=((1, 0.5, 0.25), (2, 0.125, ulp)), w=w)
    report = run_compare.difference_report(a, b)
    assert "d  1 of 2 steps bitwise equal; first divergent step 2:" in report
    assert "  w  float32 [2, 3]: 1 of 6 elements differ" in report
    assert report.rstrip().splitlines()[-1].startswith("DIFFERENT")


def _census(**ops: int) -> dict:
    return {"graph_ops": {"train": {"Conv2D": 4, "MatMul": 6, **ops}}}


def test_a_resumed_runs_census_is_no_likely_cause():
    """A run resumed inside an epoch holds a SkipDataset and its start arithmetic in its train
    graph: that census is no cause; another op (a Softmax kernel) still is."""
    straight = _census(Const=955, Equal=4, Mul=143, Pack=12, SelectV2=2, StridedSlice=52)
    resumed = _census(
        Const=958, Equal=5, Mul=144, Pack=15, SelectV2=3, StridedSlice=53, SkipDataset=1
    )
    assert run_compare.likely_causes(diff_records(straight, resumed)) == []
    causes = run_compare.likely_causes(diff_records(straight, {**resumed, "graph_ops": {
        "train": {**resumed["graph_ops"]["train"], "Softmax": 1}}}))  # fmt: skip
    assert [field.path for _, field in causes] == ["graph_ops.train.Softmax"]
    assert run_compare.likely_causes(diff_records(straight, _census(Const=958))) != []
