"""What the machine is, as far as the bits of a CPU run can tell: ISA, caches, cores.

TensorFlow's CPU kernels pick code paths and blocking at run time from the CPU: oneDNN (and
the Eigen contraction kernel that calls its sgemm) dispatches on the instruction set, and both
Eigen and oneDNN size their blocks from the CPUID cache sizes (L1d/L2/L3) and core topology.
A run's bits therefore depend on these, and run.json records them (`fingerprint`), so two runs
can be told apart after the fact. On x86-64 the CPU is read from this process's own CPUID
instruction (`cpuid.py`: what the kernels see, also under an emulator), on Linux aarch64 from
MIDR_EL1 and the kernel's feature bits (`arm_id.py`, likewise); elsewhere from /proc/cpuinfo
and /sys. Fields that cannot be read are None (macOS arm64). Off x86 the `cpu_isa` pin has no
meaning.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from tf_determinism import arm_id, cpuid

# oneDNN 3.2's rules (cpu_isa_traits.hpp: mayiuse), in /proc/cpuinfo flag names; each level
# needs its own flags and every lower level's.
ISA_LEVELS: tuple[tuple[str, frozenset[str]], ...] = (
    ("sse41", frozenset({"sse4_1"})),
    ("avx", frozenset({"avx"})),
    ("avx2", frozenset({"avx2", "fma"})),
    ("avx512_core", frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq"})),
    ("avx512_core_vnni", frozenset({"avx512_vnni"})),
    ("avx512_core_bf16", frozenset({"avx512_bf16"})),
    ("avx512_core_amx", frozenset({"amx_tile", "amx_int8", "amx_bf16", "avx512_fp16", "avx_vnni"})),
)
# The extensions worth recording (a fingerprint, not the whole flag list).
_RECORDED_FLAGS = (
    "sse4_1",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512dq",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    # aarch64 (arm_id: the kernel's names)
    "fp",
    "asimd",
    "fphp",
    "asimdhp",
    "asimdrdm",
    "asimddp",
    "asimdfhm",
    "sve",
    "sve2",
    "svei8mm",
    "svef32mm",
    "svebf16",
    "i8mm",
    "bf16",
)


def _processors() -> list[dict[str, str]]:
    """The fields of every processor in /proc/cpuinfo ([] where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            blocks = f.read().strip().split("\n\n")
    except OSError:
        return []
    return [
        {
            key.strip(): value.strip()
            for key, _, value in (line.partition(":") for line in block.splitlines())
        }
        for block in blocks
        if block
    ]


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (/proc/cpuinfo names; empty where unknown): from CPUID where
    it can run here, else /proc/cpuinfo."""
    if cpuid.available():
        return frozenset(cpuid.report()["flags"])
    processors = _processors()
    return frozenset(processors[0].get("flags", "").split()) if processors else frozenset()


def supported_isas(flags: frozenset[str] | None = None) -> list[str]:
    """oneDNN ISA levels this CPU supports, lowest first (e.g. [..., "avx2", "avx512_core"])."""
    flags = cpu_flags() if flags is None else flags
    found = []
    for name, needs in ISA_LEVELS:
        if not needs <= flags:
            break
        found.append(name)
    return found


def _cpu_list(text: str) -> list[int]:
    """ "0-2,5" -> [0, 1, 2, 5] (the sysfs list format)."""
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def _caches() -> dict[str, Any]:
    caches: dict[str, Any] = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return caches
    for entry in entries:
        if not entry.startswith("index"):
            continue

        def read(name: str, entry: str = entry) -> str:
            with open(os.path.join(base, entry, name), encoding="utf-8") as f:
                return f.read().strip()

        try:
            level, kind = read("level"), read("type")
            if kind == "Instruction":
                continue
            name = f"L{level}{'d' if kind == 'Data' else ''}"
            caches[name] = {
                "size": read("size"),
                "shared_by_logical": len(_cpu_list(read("shared_cpu_list"))),
            }
        except OSError:
            continue
    return caches


def _host_if_emulated(seen: dict[str, Any], info: dict[str, str]) -> str | None:
    """The host CPU ("vendor family/model/stepping", from /proc/cpuinfo) when it is not the
    CPU this process's CPUID reports: the process runs under a user-mode emulator (qemu).
    None otherwise."""
    if not info:
        return None
    host = f"{info.get('cpu family')}/{info.get('model')}/{info.get('stepping')}"
    if (info.get("vendor_id"), host) == (seen["vendor"], seen["family_model_stepping"]):
        return None
    return f"{info.get('vendor_id')} {host}"


def _arm_cpu(info: dict[str, str]) -> tuple[dict[str, Any], frozenset[str]]:
    """The aarch64 CPU (arm_id: MIDR_EL1, the kernel's feature bits, the SVE vector length),
    with "emulated_on" naming the host when /proc/cpuinfo describes an x86 one (qemu-aarch64):
    then /sys describes the host too, so no caches are recorded."""
    seen = arm_id.report()
    host = None
    if info and "CPU implementer" not in info:
        host = (
            f"{info.get('vendor_id')} {info.get('cpu family')}/{info.get('model')}/"
            f"{info.get('stepping')}"
        )
    cpu = {
        **{key: seen[key] for key in ("vendor", "model_name", "midr", "sve_vector_bits")},
        "caches": None if host else _caches(),
        "source": "midr_el1, getauxval",
        "emulated_on": host,
    }
    return cpu, frozenset(seen["flags"])


def fingerprint() -> dict[str, Any]:
    """The CPU properties a run's bits can depend on (see the module docstring); with
    "emulated_on" naming the host CPU when this process runs on an emulated one."""
    processors = _processors()
    info = processors[0] if processors else {}
    cores = {(p.get("physical id"), p["core id"]) for p in processors if "core id" in p}
    try:
        schedulable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        schedulable = None
    if cpuid.available():
        seen = cpuid.report()
        cpu: dict[str, Any] = {
            **{
                key: seen[key]
                for key in ("vendor", "model_name", "family_model_stepping", "caches")
            },
            "source": "cpuid",
            "emulated_on": _host_if_emulated(seen, info),
        }
        flags = frozenset(seen["flags"])
    elif arm_id.available():
        cpu, flags = _arm_cpu(info)
    else:
        flags = frozenset(info.get("flags", "").split())
        cpu = {
            "vendor": info.get("vendor_id"),
            "model_name": info.get("model name"),
            "family_model_stepping": (
                f"{info.get('cpu family')}/{info.get('model')}/{info.get('stepping')}"
                if info
                else None
            ),
            "caches": _caches(),
            "source": "/proc/cpuinfo",
        }
    return {
        "machine": platform.machine(),
        **cpu,
        "isa_flags": sorted(f for f in _RECORDED_FLAGS if f in flags),
        "isa_levels": supported_isas(flags),
        "logical_cores": os.cpu_count(),
        "physical_cores": len(cores) or None,
        "schedulable_cores": schedulable,
    }


_PROBE = """
import tensorflow as tf
x = tf.ones([64, 64])
tf.linalg.matmul(x, x).numpy()
tf.nn.conv2d(tf.ones([1, 8, 8, 4]), tf.ones([3, 3, 4, 4]), 1, "SAME").numpy()
"""


def onednn_probe(timeout: float = 120) -> dict[str, Any]:
    """What oneDNN runs with in this environment, from its verbose header:
    {"isa": e.g. "Intel AVX2", "threads": the size of TF's thread pool it ran on (its
    `nthr:`)}; a value is None where it cannot be told (no oneDNN call, probe failed).

    Probed in a subprocess with this process's environment and CPU affinity (so with the pins
    set), since oneDNN has no Python API: it shows the pool size that actually runs ops, which
    TF's own settings only echo. Cached per (CPU and affinity, the PINNED_ENVIRONMENT values,
    Python and TF version) in ~/.cache/reproducible/onednn.json, as the probe costs a TF
    import (a few seconds). Under an emulator (fingerprint's "emulated_on") both are None:
    the child would run on the host.
    """
    import hashlib
    import json
    import subprocess
    import sys

    from tf_determinism.pins import PINNED_ENVIRONMENT  # pins imports this module

    key_source = json.dumps(
        [
            fingerprint(),
            [os.environ.get(k) for k in PINNED_ENVIRONMENT],
            sys.version,
            _tf_version(),
        ],
        sort_keys=True,
    )
    key = hashlib.sha256(key_source.encode()).hexdigest()[:16]
    cache = os.path.join(os.path.expanduser("~"), ".cache", "reproducible", "onednn.json")
    try:
        with open(cache, encoding="utf-8") as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    if fingerprint().get("emulated_on"):
        # A child of an emulated process runs natively, on the host: it cannot tell.
        return {"isa": None, "threads": None}
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"isa": None, "threads": None}
    isa = next(
        (
            line.split("isa:", 1)[1].strip()
            for line in out.splitlines()
            if line.startswith("onednn_verbose,info,cpu,isa:")
        ),
        None,
    )
    threads = next(
        (
            line.rsplit("nthr:", 1)[1].strip()
            for line in out.splitlines()
            if line.startswith("onednn_verbose,info,cpu,runtime:") and "nthr:" in line
        ),
        None,
    )
    found = {"isa": isa, "threads": int(threads) if threads and threads.isdigit() else None}
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        from tf_determinism.atomic import write_text_atomic

        write_text_atomic(cache, json.dumps({**known, key: found}, indent=1, sort_keys=True))
    except OSError:
        pass
    return found


def _tf_version() -> str | None:
    from importlib import metadata

    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None
