"""repro_app's options: one flag per leaf, strict run.json round trip, identity, checks."""

from __future__ import annotations

import dataclasses

import pytest
from absl import flags

import repro_app
from repro_app import Checked, DataOptions, ScheduleOptions, option
from tf_determinism import Numerics


@dataclasses.dataclass(frozen=True)
class _Model(Checked):
    kind: str = option("a", "Kind.", choices=("a", "b"))
    rate: float | None = option(None, "Rate.", positive=True)
    width: int = option(4, "Width.", lower_bound=1, upper_bound=8)
    verbose: bool = option(False, "Verbose.")


@dataclasses.dataclass(frozen=True)
class _Options(Checked):
    random_seed: int = option(1, "Seed.", lower_bound=0)
    model_dir: str | None = option(None, "Dir.", nonempty=True, resumable=True)
    model: _Model = _Model()
    data: DataOptions = DataOptions()
    schedule: ScheduleOptions = ScheduleOptions()
    numerics: Numerics = Numerics()


def _parse(argv: list[str], **overrides: object) -> _Options:
    values = flags.FlagValues()
    holders = repro_app.define_flags(_Options, overrides, flag_values=values)
    values(["prog", *argv])
    return repro_app.from_values(_Options, {n: h.value for n, h in holders.items()})


def test_one_flag_per_leaf_with_types_defaults_and_overrides() -> None:
    opts = _parse(
        ["--kind=b", "--rate=0.5", "--verbose", "--batch_size=7", "--onednn=false"], width=2
    )
    assert opts.model == _Model(kind="b", rate=0.5, width=2, verbose=True)
    assert opts.data.batch_size == 7 and opts.numerics.onednn is False
    assert opts.schedule == ScheduleOptions() and opts.model_dir is None
    assert set(repro_app.flat(opts)) == {f.name for f, *_ in repro_app.options.leaves(_Options)}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--kind=c"], "kind"),
        (["--rate=0"], "--rate must be > 0"),
        (["--width=9"], "width"),
        (["--model_dir="], "--model_dir must not be empty"),
        (["--random_seed=-1"], "random_seed"),
        (["--intra_op_threads=0"], "intra_op_threads"),
    ],
)
def test_bad_flag_values_are_refused_at_parse_time(argv: list[str], message: str) -> None:
    with pytest.raises(flags.Error, match=message):
        _parse(argv)


def test_unknown_override_and_duplicate_leaf_names_are_errors() -> None:
    with pytest.raises(ValueError, match="no option fields"):
        repro_app.define_flags(_Options, {"nope": 1}, flag_values=flags.FlagValues())

    @dataclasses.dataclass(frozen=True)
    class Twice:
        a: _Model = _Model()
        b: _Model = _Model()

    with pytest.raises(ValueError, match="two option fields are named 'kind'"):
        repro_app.define_flags(Twice, flag_values=flags.FlagValues())


def test_round_trip_and_strict_reading() -> None:
    opts = _Options(model=_Model(rate=2.0))
    stored = repro_app.to_dict(opts)
    assert repro_app.from_dict(_Options, stored) == opts
    for change, message in [
        (lambda d: d["model"].update(extra=1), "options.model.extra: not an option"),
        (lambda d: d["data"].pop("buffer_size"), "options.data.buffer_size: missing"),
        (lambda d: d["model"].update(width=True), "options.model.width: must be an int"),
        (lambda d: d["model"].update(kind="z"), "options.model.kind: must be one of a, b"),
        (lambda d: d.update(numerics=[]), "options.numerics: expected an object"),
    ]:
        broken = repro_app.to_dict(opts)
        change(broken)
        with pytest.raises(repro_app.OptionsError, match=message):
            repro_app.from_dict(_Options, broken)


def test_identity_leaves_out_resumable_leaves_unless_kept() -> None:
    identity = repro_app.identity(_Options())
    assert "model_dir" not in identity and "max_train_steps" not in identity["schedule"]
    # The generic group; mnist_input's test checks that MNIST's adds mnist_idx_dir.
    assert identity["data"] == {"batch_size": 32, "buffer_size": 10000}
    assert identity["random_seed"] == 1 and identity["numerics"]["intra_op_threads"] == 2
    kept = repro_app.identity(_Options(), frozenset({"max_train_steps"}))
    assert kept["schedule"] == {"max_train_steps": 1000}


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: _Model(width=0), "_Model.width must be an int >= 1, got 0"),
        (
            lambda: _Model(width=2.0),  # type: ignore[arg-type]
            "_Model.width must be an int, got 2.0",
        ),
        (lambda: _Model(rate=float("nan")), "_Model.rate must be a finite number"),
        (lambda: _Model(kind="x"), "_Model.kind must be one of a, b"),
        (lambda: _Model(verbose=1), "_Model.verbose must be a bool"),  # type: ignore[arg-type]
        (lambda: DataOptions(data_dir=""), "DataOptions.data_dir must be non-empty"),
    ],
)
def test_leaves_are_checked_on_construction(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_record_dir_is_per_source_and_compression() -> None:
    assert DataOptions(data_dir="d", compression="GZIP").record_dir("src") == "d/src/gzip"
    assert DataOptions().record_dir("src") == "data/src/none"
