"""`repro`'s command line on small synthetic runs: exit codes, the report, one-line errors.

No training here: `compare` reads fake run directories, and `twice` is only driven into its
refusals and into a child that fails in flag parsing. run_compare's own logic is tested in
libs/run_compare; real-run tests (twice, different seed, tampering) are in test_twice.py.
"""

import os

from repro.main import main


def test_compare_exit_codes_and_bad_input(tmp_path, capsys, fake_run):
    a = fake_run(tmp_path / "a")
    b = fake_run(tmp_path / "b")
    assert main(["compare", a, b]) == 0
    out = capsys.readouterr().out
    assert out.endswith("IDENTICAL: losses and weights are bitwise equal\n")
    assert os.path.getsize(os.path.join(b, "comparison.png")) > 0
    c = fake_run(tmp_path / "c", losses=((1, 0.5, 0.25), (2, 0.125, 1.25)))
    assert main(["compare", a, c, "--out", str(tmp_path / "x.png")]) == 1
    out = capsys.readouterr().out
    assert "d  1 of 2 steps bitwise equal; first divergent step 2:" in out
    assert "A 1.5 (0x3fc00000)  B 1.25 (0x3fa00000)" in out
    assert os.path.isfile(tmp_path / "x.png")

    no_ckpt = fake_run(tmp_path / "no_ckpt", with_checkpoint=False)
    no_losses = fake_run(tmp_path / "no_losses")
    os.remove(os.path.join(no_losses, "losses.csv"))
    bad_losses = fake_run(tmp_path / "bad_losses")
    with open(os.path.join(bad_losses, "losses.csv"), "a") as f:
        f.write("3,oops,1.0\n")
    no_json = fake_run(tmp_path / "no_json")
    os.remove(os.path.join(no_json, "run.json"))
    gone = fake_run(tmp_path / "gone")
    os.remove(os.path.join(gone, "model.ckpt-2.index"))
    torn = fake_run(tmp_path / "torn")
    data = os.path.join(torn, "model.ckpt-2.data-00000-of-00001")
    os.truncate(data, os.path.getsize(data) // 2)  # a copy interrupted
    cases = {
        torn: "model.ckpt-2: unreadable checkpoint, tensor",
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
    assert "--model_dir=/tmp/x: twice picks the run directories" in capsys.readouterr().err
    assert not os.path.exists(root)
    # An invalid mnist_gan flag fails in flag parsing, before TF is imported: a quick child.
    assert main(["twice", "--runs_root", root, "--", "--max_train_steps=0"]) == 2
    err = capsys.readouterr().err
    assert "mnist_gan.train exited with status 1" in err and "train.log" in err, err
    assert err.count("\n") == 1
    (run_a,) = (d for d in os.listdir(root) if d.endswith("-a"))
    assert "max_train_steps" in open(os.path.join(root, run_a, "train.log")).read()


def test_every_command_takes_app_and_refuses_a_wrong_one(tmp_path, capsys, fake_run):
    from run_record import update_run_json

    gan, classifier = fake_run(tmp_path / "gan"), fake_run(tmp_path / "classifier")
    update_run_json(gan, ("app",), "mnist_gan")
    update_run_json(classifier, ("app",), "mnist_classifier")
    assert main(["compare", gan, fake_run(tmp_path / "other"), "--app", "mnist_gan"]) == 0
    capsys.readouterr()
    for argv, message in [
        (
            ["compare", gan, classifier],
            f"{gan} is a run of mnist_gan, {classifier} of "
            "mnist_classifier: compare runs of one app",
        ),
        (["compare", gan, gan, "--app", "text_lm"], f"{gan} is a run of mnist_gan, not text_lm"),
        (
            ["compare", gan, gan, "--app", "nope"],
            "unknown app 'nope'; one of mnist_classifier, mnist_gan, text_lm",
        ),
        (["twice", "--app", "nope", "--runs_root", str(tmp_path / "r")], "unknown app 'nope'"),
        (["check", "--app", "nope"], "unknown app 'nope'"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()
