"""Bootstraps Pants for ./pants from PyPI alone; prints shell `KEY=VALUE` lines on stdout.

Why this exists: Pants' scie launcher and its default `pex` binary are downloaded from GitHub,
which machines with only a PyPI mirror cannot reach. Both are rebuilt here from PyPI wheels.

Guarantees:
  * Idempotent: a venv or pex.pex is only used once a `.complete` marker (venv) or the final
    name (pex.pex, written to a temporary name and renamed) exists; half-built ones are redone.
  * Race-safe: every build step runs under an exclusive `fcntl.flock` on `<cache>/.lock`, so two
    first runs started together build once and both succeed.
  * Nothing is written inside the repository.
"""

import argparse
import fcntl
import glob
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile


def _log(msg: str) -> None:
    print(f"./pants bootstrap: {msg}", file=sys.stderr, flush=True)


def _run(cmd: list, **kw) -> None:
    subprocess.run(cmd, check=True, stdout=sys.stderr, **kw)


def _venv(cache: str, pants_version: str) -> str:
    """Returns the path of a venv holding pantsbuild.pants==pants_version, building it if needed."""
    py = f"{sys.version_info[0]}{sys.version_info[1]}"
    venv = os.path.join(cache, f"pants-{pants_version}-py{py}")
    marker = os.path.join(venv, ".complete")
    if os.path.exists(marker):
        return venv
    _log(f"creating {venv} with pantsbuild.pants=={pants_version} (once; about 30 s)")
    shutil.rmtree(venv, ignore_errors=True)
    _run([sys.executable, "-m", "venv", venv])
    pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    req = f"pantsbuild.pants=={pants_version}"
    if sys.version_info[:2] == (3, 9):
        _run(pip + ["install", req])
    else:
        # Pants 2.17 only publishes cp39 wheels. Its native engine has no ABI-tagged file name
        # and runs on 3.11, so install that wheel without its tag/Requires-Python check and let
        # pip resolve its pure-Python dependencies for this interpreter.
        with tempfile.TemporaryDirectory() as tmp:
            _run(
                pip
                + [
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--python-version",
                    "3.9",
                    "--implementation",
                    "cp",
                    "--abi",
                    "cp39",
                    "-d",
                    tmp,
                    req,
                ]
            )
            (whl,) = glob.glob(os.path.join(tmp, "pantsbuild.pants-*.whl"))
            tag = f"cp{py}-cp{py}"
            renamed = whl.replace("cp39-cp39", tag)
            os.rename(whl, renamed)
            _run(pip + ["install", "--ignore-requires-python", renamed])
    with open(marker, "w") as f:
        f.write(req + "\n")
    return venv


def _pex(cache: str, venv: str, pex_version: str) -> str:
    """Returns the path of a pex.pex zipapp of pex==pex_version, building it if needed."""
    out = os.path.join(cache, f"pex-{pex_version}", "pex.pex")
    if os.path.exists(out):
        return out
    _log(f"building {out} from PyPI's pex=={pex_version}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(out)) as tmp:
        wheels = os.path.join(tmp, "wheels")
        # The venv's pip honours the machine's pip settings (index, certificates) ...
        _run(
            [
                os.path.join(venv, "bin", "python"),
                "-m",
                "pip",
                "-q",
                "download",
                "--no-deps",
                "-d",
                wheels,
                f"pex=={pex_version}",
            ]
        )
        # ... and pex then builds offline from that wheel. A fixed shebang keeps the sha stable.
        built = os.path.join(tmp, "pex.pex")
        _run(
            [
                os.path.join(venv, "bin", "pex"),
                "--no-pypi",
                "-f",
                wheels,
                f"pex=={pex_version}",
                "-c",
                "pex",
                "-o",
                built,
                "--python-shebang",
                "/usr/bin/env python3",
            ],
            env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
        )
        os.replace(built, out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--pants-version", required=True)
    ap.add_argument("--pex-version", required=True)
    args = ap.parse_args()
    if not args.pants_version:
        sys.exit("./pants bootstrap: no pants_version found in pants.toml")
    os.makedirs(args.cache, exist_ok=True)
    with open(os.path.join(args.cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        venv = _venv(args.cache, args.pants_version)
        pex = _pex(args.cache, venv, args.pex_version)
    with open(pex, "rb") as f:
        data = f.read()
    values = {
        "PANTS_BIN": os.path.join(venv, "bin", "pants"),
        "PEX_PATH": pex,
        "PEX_SHA256": hashlib.sha256(data).hexdigest(),
        "PEX_SIZE": str(len(data)),
    }
    for key, value in values.items():
        print(f"{key}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
