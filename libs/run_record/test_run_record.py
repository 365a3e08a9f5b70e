"""run.json and losses.csv: exact float32 round trip, resume truncation, bad files."""

import os

import numpy as np
import pytest

from run_record import LossesWriter, read_losses, read_run_json, truncate_losses, write_run_json


def test_losses_round_trip_bit_exact_and_truncate(tmp_path):
    path = str(tmp_path / "losses.csv")
    rng = np.random.default_rng(0)
    values = rng.standard_normal((5, 2)).astype(np.float32)
    values[3, 1] = np.float32(np.nan)
    values[4, 0] = np.float32(-np.inf)
    values[0, 0] = np.float32(1e-40)  # subnormal
    writer = LossesWriter(path, ["g", "d"])
    for step, row in enumerate(values, start=1):
        writer.write(step, row)
    writer.close()
    names, steps, read = read_losses(str(tmp_path))
    assert names == ["g", "d"]
    np.testing.assert_array_equal(steps, [1, 2, 3, 4, 5])
    for i, name in enumerate(names):
        assert read[name].tobytes() == values[:, i].tobytes()

    assert truncate_losses(path, 3) == 3
    writer = LossesWriter(path, ["g", "d"])
    assert writer.last_step == 3
    with pytest.raises(ValueError, match="step 3 after step 3"):
        writer.write(3, [0.0, 0.0])
    writer.write(4, values[3])
    writer.close()
    _, steps, read = read_losses(path)
    np.testing.assert_array_equal(steps, [1, 2, 3, 4])
    assert read["d"].tobytes() == values[:4, 1].tobytes()
    with pytest.raises(ValueError, match="has losses"):
        LossesWriter(path, ["g"])


def test_bad_losses_and_run_json(tmp_path):
    bad = tmp_path / "losses.csv"
    bad.write_text("step,g\n1,abc\n")
    with pytest.raises(ValueError, match=r"losses.csv:2: not a number"):
        read_losses(str(bad))
    bad.write_text("loss,g\n")
    with pytest.raises(ValueError, match=r"losses.csv:1: expected a header"):
        read_losses(str(bad))
    with pytest.raises(FileNotFoundError, match="no losses.csv"):
        read_losses(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="no run.json"):
        read_run_json(str(tmp_path))
    (tmp_path / "run.json").write_text("[1]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_run_json(str(tmp_path))
    write_run_json(str(tmp_path), {"seed": 1, "a": [1, 2]})
    assert read_run_json(str(tmp_path)) == {"seed": 1, "a": [1, 2]}
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temp files left


def test_check_resumable(tmp_path):
    from run_record import RunMismatchError, check_resumable

    check_resumable(str(tmp_path), {"seed": 1})  # new directory: fine
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-5"\n')
    with pytest.raises(RunMismatchError, match="has checkpoints but no run.json"):
        check_resumable(str(tmp_path), {"seed": 1})
    write_run_json(str(tmp_path), {"identity": {"seed": 1, "gan_type": "infogan"}})
    check_resumable(str(tmp_path), {"seed": 1, "gan_type": "infogan"})  # same run: fine
    with pytest.raises(
        RunMismatchError, match=r"made by a different run \(seed: 1 there, 2 now\); use another"
    ):
        check_resumable(str(tmp_path), {"seed": 2, "gan_type": "infogan"})


def test_check_resumable_names_nested_fields_by_dotted_path(tmp_path):
    from run_record import RunMismatchError, check_resumable

    write_run_json(str(tmp_path), {"identity": {"seed": 1, "model": {"kind": "a", "width": 2}}})
    check_resumable(str(tmp_path), {"seed": 1, "model": {"kind": "a", "width": 2}})
    with pytest.raises(
        RunMismatchError,
        match=(r"\(model\.kind: 'a' there, 'b' now; model\.width: 2 there, None now\)"),
    ):
        check_resumable(str(tmp_path), {"seed": 1, "model": {"kind": "b"}})


def test_copy_checkpoint_takes_that_checkpoints_data_and_index_only(tmp_path) -> None:
    from run_record import copy_checkpoint

    source = tmp_path / "run"
    source.mkdir()
    for name in (
        "model.ckpt-1.index",
        "model.ckpt-1.data-00000-of-00001",
        "model.ckpt-1.meta",
        "model.ckpt-10.index",
        "model.ckpt-12.index",
    ):
        (source / name).write_bytes(name.encode())
    copied = copy_checkpoint(str(source / "model.ckpt-1"), str(tmp_path / "copy"))
    assert sorted(os.listdir(tmp_path / "copy")) == [
        "model.ckpt-1.data-00000-of-00001",
        "model.ckpt-1.index",
    ]
    assert all(open(path, "rb").read() == os.path.basename(path).encode() for path in copied)
    assert os.stat(copied[0]).st_ino != os.stat(source / os.path.basename(copied[0])).st_ino

    linked = copy_checkpoint(str(source / "model.ckpt-1"), str(tmp_path / "copy"), link=True)
    assert linked == copied  # the same names, replaced, now hard links
    assert os.stat(linked[0]).st_ino == os.stat(source / os.path.basename(linked[0])).st_ino
