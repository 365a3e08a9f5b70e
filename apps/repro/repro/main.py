"""repro (`./pants run apps/repro`): prove (or disprove) that two runs are the same bit for bit.

    ./pants run apps/repro -- compare RUN_A RUN_B [--app APP] [--out PATH]
    ./pants run apps/repro -- twice [--app APP] [--quick] [--cpu MODEL] [--runs_root DIR]
                                    [--out PATH] -- <app flags>
    ./pants run apps/repro -- check [--app APP] [--numerics MODE] [--reference PATH]
                                    [--runs_root DIR] [--write_reference PATH --reason TEXT]
    ./pants run apps/repro -- emulate --cpu MODEL [--app APP] [--runs_root DIR] -- <app flags>
    ./pants run apps/repro -- verify RUN_DIR [--all | --segments N] [--seed S] [--cpu MODEL]
                                             [--local_workers W] [--runs_root DIR]
                                             [--report PATH]

APP is one of repro.apps.APPS, the registry (default mnist_gan). The runs root defaults to
runs/repro, relative to the working directory (`./pants run` runs in the checkout's root).

Exit status: 0 when losses, weights and result files are bitwise identical (check: to the
reference; verify: to the run's manifest), 1 when they differ (or were tampered with), 2 on bad
input (one-line message on stderr).
"""

import argparse
import os
import sys
from collections.abc import Sequence

from repro.apps import APPS, DEFAULT_APP

EXIT_IDENTICAL, EXIT_DIFFERENT, EXIT_BAD_INPUT = 0, 1, 2
PNG_NAME = "comparison.png"


def _add_app(parser: argparse.ArgumentParser, default: str | None = DEFAULT_APP) -> None:
    parser.add_argument(
        "--app",
        default=default,
        help=f"the app ({', '.join(APPS)}; default: {default or 'the one that made the runs'})",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repro", description="Bit-for-bit comparison of training runs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="compare two run directories of one app (run.json, losses.csv, every "
        "checkpoint both kept, the result files)",
    )
    compare.add_argument("run_a", metavar="RUN_A", help="first run directory")
    compare.add_argument("run_b", metavar="RUN_B", help="second run directory")
    compare.add_argument("--out", help=f"the plot's path (default: RUN_B/{PNG_NAME})")
    _add_app(compare, None)
    twice = commands.add_parser(
        "twice",
        help="run an app twice in fresh processes, then compare; its flags go after `--`",
    )
    _add_app(twice)
    twice.add_argument(
        "--runs_root",
        default=os.path.join("runs", "repro"),
        help="where the two new run directories go (default: runs/repro)",
    )
    twice.add_argument("--out", help=f"the plot's path (default: <run b>/{PNG_NAME})")
    twice.add_argument(
        "--quick",
        action="store_true",
        help="the short run emulate makes: 2 steps at the app's quick settings (its options' "
        "QUICK), before the app flags",
    )
    twice.add_argument(
        "--cpu",
        help="run both on an emulated CPU (as emulate's --cpu): the "
        "same-machine guarantee there",
    )
    check = commands.add_parser(
        "check",
        help="rerun an app's shipped reference run here; say whether it is bitwise equal",
    )
    _add_app(check, None)
    check.add_argument(
        "--numerics",
        choices=("fast", "portable"),
        default=None,
        help="the reference of this numerics mode (default fast; portable: the app's "
        "-portable.json, made with --numerics=portable, the same bits on x86-64 and aarch64)",
    )
    check.add_argument("--reference", help="reference record (default: the app's shipped one)")
    check.add_argument(
        "--runs_root",
        default=os.path.join("runs", "repro"),
        help="where the new run directory goes (default: runs/repro)",
    )
    check.add_argument(
        "--write_reference",
        metavar="PATH",
        help="instead: train the reference run and write its record to PATH",
    )
    check.add_argument("--reason", default="", help="with --write_reference: why (required)")
    emulate = commands.add_parser(
        "emulate",
        help="one short run natively and on an emulated CPU (qemu-x86_64 or "
        "qemu-aarch64 -cpu MODEL), compared bit for bit; app flags go after `--`",
    )
    emulate.add_argument(
        "--cpu",
        required=True,
        help="a qemu CPU model: x86-64 ones such as Haswell (Intel), EPYC-Rome "
        "(AMD); aarch64 ones such as neoverse-n1 (Graviton2), cortex-a72, "
        "max (SVE: max,sve-default-vector-length=32 for 256 bits); "
        "ARCH:MODEL picks the emulator (x86_64:max)",
    )
    _add_app(emulate)
    emulate.add_argument(
        "--runs_root",
        default=os.path.join("runs", "repro"),
        help="where the two new run directories go (default: runs/repro)",
    )
    verify = commands.add_parser(
        "verify",
        help="check a finished run against its manifest, and re-execute sampled "
        "segments of it bit for bit",
    )
    verify.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    sampled = verify.add_mutually_exclusive_group()
    sampled.add_argument("--all", action="store_true", help="re-execute every segment")
    sampled.add_argument(
        "--segments",
        type=int,
        default=1,
        help="re-execute this many segments, a seeded sample (default 1)",
    )
    verify.add_argument(
        "--seed",
        type=int,
        help="the sample's seed (default: a random one, recorded in the report)",
    )
    verify.add_argument("--cpu", help="re-execute on an emulated CPU (as emulate's --cpu)")
    verify.add_argument(
        "--local_workers", type=int, default=0, help="re-execute on this many local processes"
    )
    verify.add_argument(
        "--runs_root",
        default=os.path.join("runs", "repro"),
        help="where the re-executed segments go (default: runs/repro)",
    )
    verify.add_argument("--report", help="the report's path (default: RUN_DIR/verify.json)")
    return parser


def _bad_input(command: str, message: str) -> int:
    print(f"repro {command}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _label(run_dir: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(run_dir)))


def compare(run_a: str, run_b: str, out: str | None = None, app: str | None = None) -> int:
    """Compares two run directories (of `app`, when given), prints the report, writes the
    plot; returns the exit code."""
    import run_compare  # after argument parsing: --help stays instant

    try:
        result = run_compare.compare_runs(run_a, run_b)
    except run_compare.BadRunError as e:
        return _bad_input("compare", str(e))
    if app is not None and app not in APPS:
        return _bad_input("compare", f"unknown app {app!r}; one of {', '.join(APPS)}")
    for run_dir, record in ((run_a, result.record_a), (run_b, result.record_b)):
        if app is not None and record.get("app", app) != app:
            return _bad_input("compare", f"{run_dir} is a run of {record['app']}, not {app}")
    png_path = out or os.path.join(run_b, PNG_NAME)
    title = (
        f"A: {run_a}   B: {run_b}\n"
        f"{run_compare.verdict_line(result).split(':', 1)[0]}: losses "
        f"{'bitwise equal' if result.losses.identical else 'differ'}, weights "
        f"{'bitwise equal' if all(c.identical for c in result.checkpoints) else 'differ'}"
    )
    try:
        run_compare.write_comparison_png(
            png_path,
            losses=result.losses,
            label_a=_label(run_a),
            label_b=_label(run_b),
            title=title,
        )
    except OSError as e:
        return _bad_input("compare", f"{png_path}: cannot write the plot ({e.strerror})")
    sys.stdout.write(run_compare.format_report(result, png_path))
    sys.stdout.flush()
    return EXIT_IDENTICAL if result.identical else EXIT_DIFFERENT


def twice(
    app: str,
    app_flags: Sequence[str],
    runs_root: str,
    out: str | None = None,
    cpu: str | None = None,
    quick: bool = False,
) -> int:
    """Runs `app` twice in fresh processes (on the emulated `cpu` if given; the short run at its
    quick settings with `quick`), then compares the two; returns the exit code."""
    import tempfile

    from repro.apps import UnknownAppError
    from repro.apps import app as registered
    from repro.emulate import EmulateError, launcher, resolve_cpu
    from repro.twice import NATIVE, TwiceError, quick_run, run_twice

    echo = lambda line: print(line, flush=True)  # noqa: E731
    try:
        if quick:
            app_flags = quick_run(registered(app), app_flags)
        with tempfile.TemporaryDirectory(prefix="repro-twice-") as scratch:
            how = launcher(resolve_cpu(cpu), scratch, echo) if cpu else NATIVE
            run_a, run_b = run_twice(app, app_flags, runs_root, echo, launcher=how)
    except (TwiceError, EmulateError, UnknownAppError) as e:
        return _bad_input("twice", str(e))
    return compare(run_a, run_b, out)


def check(args: argparse.Namespace) -> int:
    """`check` (or `check --write_reference`); returns the exit code."""
    from repro import check as check_lib

    echo = lambda line: print(line, flush=True)  # noqa: E731
    app = args.app or DEFAULT_APP
    try:
        if args.write_reference:
            check_lib.write_reference(
                args.write_reference, args.reason, args.runs_root, echo, app,
                args.numerics or "fast",
            )  # fmt: skip
            return EXIT_IDENTICAL
        path = args.reference or check_lib.shipped_reference_path(app, args.numerics or "fast")
        same = check_lib.check(path, args.runs_root, echo, args.app, args.numerics)
    except check_lib.CheckError as e:
        return _bad_input("check", str(e))
    return EXIT_IDENTICAL if same else EXIT_DIFFERENT


def emulate(model: str, app: str, app_flags: Sequence[str], runs_root: str) -> int:
    """`emulate`; returns the exit code."""
    from repro import emulate as emulate_lib

    try:
        same = emulate_lib.emulate(
            model, app, app_flags, runs_root, lambda line: print(line, flush=True)
        )
    except emulate_lib.EmulateError as e:
        return _bad_input("emulate", str(e))
    return EXIT_IDENTICAL if same else EXIT_DIFFERENT


def verify(args: argparse.Namespace) -> int:
    """`verify`; returns the exit code."""
    from repro import verify as verify_lib

    if args.segments < 1 or args.local_workers < 0:
        return _bad_input("verify", "--segments must be >= 1 and --local_workers >= 0")
    options = verify_lib.VerifyOptions(
        count=None if args.all else args.segments,
        seed=args.seed,
        cpu=args.cpu,
        local_workers=args.local_workers,
        runs_root=args.runs_root,
        report=args.report,
    )
    try:
        same = verify_lib.verify(args.run_dir, options, lambda line: print(line, flush=True))
    except verify_lib.VerifyError as e:
        return _bad_input("verify", str(e))
    return EXIT_IDENTICAL if same else EXIT_DIFFERENT


def main(argv: Sequence[str] | None = None) -> int:
    """Parses `argv` (default: sys.argv[1:]) and runs the command; returns the exit code."""
    # TF's C++ INFO lines (CPU features, oneDNN) would bury the reports; warnings still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    args_in = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first `--` belongs to the app, untouched by argparse.
    passthrough: list[str] = []
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, passthrough = args_in[:cut], args_in[cut + 1 :]
    args = _parser().parse_args(args_in)
    if args.command == "compare":
        if passthrough:
            return _bad_input("compare", f"unexpected arguments after --: {' '.join(passthrough)}")
        return compare(args.run_a, args.run_b, args.out, args.app)
    if args.command == "check":
        if passthrough:
            return _bad_input("check", f"unexpected arguments after --: {' '.join(passthrough)}")
        return check(args)
    if args.command == "emulate":
        return emulate(args.cpu, args.app, passthrough, args.runs_root)
    if args.command == "verify":
        if passthrough:
            return _bad_input("verify", f"unexpected arguments after --: {' '.join(passthrough)}")
        return verify(args)
    return twice(args.app, passthrough, args.runs_root, args.out, args.cpu, args.quick)


if __name__ == "__main__":
    sys.exit(main())
