"""The emulated aarch64 environment `repro emulate --cpu neoverse-n1` trains in.

Built the first time it is needed and cached in `cache_dir()` (REPRO_CACHE_DIR, else
~/.cache/reproducible), under aarch64/:
* sysroot/: Debian 12's arm64 Python 3.11 and the libraries it and TensorFlow load, from the
  Debian registry (`dpkg --add-architecture arm64`, `apt-get download`, `dpkg -x`);
  `qemu-aarch64 -L sysroot` finds the loader and libraries there. distutils and lib2to3 too:
  TensorFlow imports them.
* site-<digest>/: the lockfile's own versions and hashes, as the aarch64 wheels
  (`tensorflow` 2.15.1 brings tensorflow-cpu-aws, oneDNN with the Arm Compute Library: what a
  Graviton machine, or Docker on an Apple Silicon Mac, installs). Other locked wheels build
  another one.
The project's own packages are not installed there: each run puts this tool's copies first on
the path (`project_path`), so the emulated process runs the same code as the native one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

DEBIAN_ROOTS = ("python3.11-minimal:arm64", "libpython3.11-stdlib:arm64", "libstdc++6:arm64")
DEBIAN_EXTRAS = ("python3-distutils", "python3-lib2to3")  # arch "all": TF imports both
LOCK = os.path.join("3rdparty", "python", "default.lock")
# What `pip --platform` may take for Debian 12 (glibc 2.36) on aarch64.
PLATFORMS = (
    "manylinux2014_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux_2_28_aarch64",
    "linux_aarch64",
)
# The interpreter the markers are read for (Debian 12's python3.11, Linux aarch64).
MARKER_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "os_name": "posix",
    "platform_machine": "aarch64",
    "platform_system": "Linux",
    "platform_python_implementation": "CPython",
    "python_full_version": "3.11.2",
    "python_version": "3.11",
    "sys_platform": "linux",
}


class ArmEnvError(Exception):
    """The aarch64 environment cannot be built (one line: what failed and how to fix it)."""


@dataclass(frozen=True)
class ArmEnv:
    """A built environment: run `qemu-aarch64 -L sysroot python` with PYTHONPATH `site`."""

    sysroot: str
    site: str

    @property
    def python(self) -> str:
        return os.path.join(self.sysroot, "usr", "bin", "python3.11")


def cache_dir() -> str:
    return os.path.join(
        os.environ.get("REPRO_CACHE_DIR")
        or os.path.join(os.path.expanduser("~"), ".cache", "reproducible"),
        "aarch64",
    )


def _run(command: list[str], what: str, log: str | None = None, cwd: str | None = None) -> str:
    """Runs `command`; its output (also appended to `log`), or ArmEnvError: `what` went wrong,
    the output's last line, the log."""
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, check=False, stdin=subprocess.DEVNULL
    )
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise ArmEnvError(
            f"{what} ({lines[-1].strip() if lines else 'no output'})"
            + (f"; see {log}" if log else "")
        )
    return done.stdout


def _debian_packages(log: str) -> list[str]:
    """The arm64 packages the roots need (their Depends and Pre-Depends, recursively)."""
    out = _run(
        [
            "apt-cache",
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            *DEBIAN_ROOTS,
        ],
        "apt-cache depends failed (the arm64 package list)",
        log,
    )
    names = [
        line.strip()
        for line in out.splitlines()
        if line and not line[0].isspace() and line.strip().endswith(":arm64")
    ]
    return sorted(set(names)) + list(DEBIAN_EXTRAS)


def build_sysroot(root: str, echo: Callable[[str], None], log: str) -> None:
    """Debian 12's arm64 python3.11 and its libraries, unpacked into `root` (built beside it,
    then moved into place, so an interrupted build leaves nothing half made)."""
    if "arm64" not in _run(["dpkg", "--print-foreign-architectures"], "dpkg failed", log).split():
        echo("  adding the arm64 architecture to dpkg (dpkg --add-architecture arm64)")
        _run(
            ["dpkg", "--add-architecture", "arm64"],
            "dpkg --add-architecture arm64 failed (it needs root)",
            log,
        )
    echo("  apt-get update (the Debian registry's arm64 package lists)")
    _run(
        ["apt-get", "update"],
        "apt-get update failed: is the Debian package registry reachable?",
        log,
    )
    packages = _debian_packages(log)
    debs = root + ".debs"
    shutil.rmtree(debs, ignore_errors=True)
    os.makedirs(debs)
    echo(f"  downloading {len(packages)} Debian packages (python3.11 for arm64 and its libraries)")
    _run(
        ["apt-get", "download", *packages],
        "apt-get download failed: is the Debian package registry reachable?",
        log,
        cwd=debs,
    )
    partial = root + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    for deb in sorted(os.listdir(debs)):
        _run(["dpkg", "-x", os.path.join(debs, deb), partial], f"dpkg -x {deb} failed", log)
    shutil.rmtree(debs)
    os.replace(partial, root)


def find_lock() -> str:
    """The lockfile: shipped in this tool's pex (a resource on sys.path), else the checkout's."""
    for entry in [*sys.path, os.getcwd()]:
        path = os.path.join(entry or ".", LOCK)
        if os.path.isfile(path):
            return path
    raise ArmEnvError(f"{LOCK} not found beside this tool's sources nor in {os.getcwd()}")


def read_lock(path: str) -> dict:
    """The pex lock inside Pants' lockfile (after its comment header)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return json.loads(text[text.index("\n{") + 1 :])


def locked_wheels(lock: dict) -> list[tuple[str, str, list[str]]]:
    """(project, version, sha256s of its aarch64 or pure wheels) for every project the lock's
    requirements need on Linux aarch64: the lock's own resolution, its markers read for that
    platform (pip's --platform would read them for this x86 machine and miss
    tensorflow-cpu-aws)."""
    from packaging.requirements import Requirement
    from packaging.tags import compatible_tags, cpython_tags
    from packaging.utils import canonicalize_name, parse_wheel_filename

    projects: dict[str, dict] = {
        canonicalize_name(p["project_name"]): p
        for resolve in lock["locked_resolves"]
        for p in resolve["locked_requirements"]
    }
    supported = {
        *cpython_tags((3, 11), ["cp311", "abi3", "none"], PLATFORMS),
        *compatible_tags((3, 11), "cp311", PLATFORMS),
    }
    wanted: dict[str, set[str]] = {}
    todo = [(Requirement(r), "") for r in lock["requirements"]]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({**MARKER_ENV, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in projects:
            raise ArmEnvError(f"{name} is not in the lockfile; run ./pants generate-lockfiles")
        new_extras = set(requirement.extras) - wanted.get(name, {"-"})
        if name in wanted and not new_extras:
            continue
        wanted.setdefault(name, set()).update(requirement.extras)
        todo += [
            (Requirement(d), e)
            for d in projects[name]["requires_dists"]
            for e in ("", *requirement.extras)
        ]
    found = []
    for project in sorted(wanted):
        hashes = [
            a["hash"]
            for a in projects[project]["artifacts"]
            if a["url"].endswith(".whl")
            and a.get("algorithm") == "sha256"
            and set(parse_wheel_filename(a["url"].rsplit("/", 1)[-1])[3]) & supported
        ]
        if not hashes:
            raise ArmEnvError(
                f"the lockfile has no Linux aarch64 wheel of {project} "
                f"{projects[project]['version']}"
            )
        found.append((projects[project]["project_name"], projects[project]["version"], hashes))
    return found


def _pip() -> list[str]:
    """A pip to download with (any host pip will do: it installs for --platform). Pants' pex
    venvs hold none, so the interpreter they were made from (sys.base_prefix) comes next."""
    base = os.path.join(sys.base_prefix, "bin", "python%d.%d" % sys.version_info[:2])
    tried = [sys.executable, base, shutil.which("python3")]
    for python in tried:
        if (
            python
            and subprocess.run(
                [python, "-m", "pip", "--version"], capture_output=True, check=False
            ).returncode
            == 0
        ):
            return [python, "-m", "pip"]
    raise ArmEnvError(f"no pip found in {', '.join(p for p in tried if p)}; install pip")


def build_site(
    site: str, wheels: Iterable[tuple[str, str, list[str]]], echo: Callable[[str], None], log: str
) -> None:
    """pip installs exactly `wheels` (hash-checked, no resolution of its own) into `site`."""
    wheels = list(wheels)
    partial = site + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    requirements = os.path.join(partial, "locked-aarch64.txt")
    with open(requirements, "w", encoding="utf-8") as f:
        for name, version, hashes in wheels:
            f.write(f"{name}=={version} " + " ".join(f"--hash=sha256:{h}" for h in hashes) + "\n")
    echo(
        f"  pip: {len(wheels)} locked aarch64 wheels (about 0.5 GB to download, 1.3 GB "
        "installed)"
    )
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    _run(
        [
            *_pip(),
            "install",
            "--no-deps",
            "--require-hashes",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            *platforms,
            "--target",
            partial,
            "--progress-bar",
            "off",
            "--disable-pip-version-check",
            "-r",
            requirements,
        ],
        "pip install of the aarch64 wheels failed: is PyPI reachable?",
        log,
    )
    os.replace(partial, site)


def ensure(echo: Callable[[str], None]) -> ArmEnv:
    """The cached environment, built first where it is missing (progress through `echo`).

    Raises:
      ArmEnvError: a step failed (no registry, not root for dpkg, no pip): one line.
    """
    base = cache_dir()
    os.makedirs(base, exist_ok=True)
    wheels = locked_wheels(read_lock(find_lock()))
    digest = hashlib.sha256(json.dumps(wheels).encode()).hexdigest()[:12]
    env = ArmEnv(os.path.join(base, "sysroot"), os.path.join(base, f"site-{digest}"))
    log = os.path.join(base, "build.log")
    if not os.path.isdir(env.sysroot) or not os.path.isdir(env.site):
        echo(f"building the emulated aarch64 environment in {base} (once; log: {log})")
    if not os.path.isdir(env.sysroot):
        build_sysroot(env.sysroot, echo, log)
    if not os.path.isdir(env.site):
        build_site(env.site, wheels, echo, log)
    return env


def _linked_from_a_wheel(package: str) -> bool:
    """Whether a package is a link into an installed wheel (a directory holding a .dist-info).
    Pex's symlinked venvs (Pants' venv_use_symlinks) link each wheel's packages and write
    RECORDs that list no package files, so importlib.metadata alone does not see that numpy was
    installed; the project's own packages sit in the same site-packages, but as directories."""
    if not os.path.islink(package):
        return False
    parent = os.path.dirname(os.path.realpath(package))
    return any(entry.endswith(".dist-info") for entry in os.listdir(parent))


def project_path(directory: str) -> str:
    """A directory of links to this tool's own packages (the project's apps and libraries:
    importable here, but from no installed distribution), for the emulated PYTHONPATH."""
    import importlib.metadata
    import pkgutil
    import sysconfig

    installed = set(importlib.metadata.packages_distributions())
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    os.makedirs(directory, exist_ok=True)
    for module in pkgutil.iter_modules():
        finder_path = os.path.realpath(getattr(module.module_finder, "path", "") or "")
        if (
            not module.ispkg
            or module.name in installed
            or finder_path.startswith(stdlib)
            or module.name.startswith("_")
            or _linked_from_a_wheel(os.path.join(finder_path, module.name))
        ):
            continue
        link = os.path.join(directory, module.name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(finder_path, module.name), link)
    return directory
