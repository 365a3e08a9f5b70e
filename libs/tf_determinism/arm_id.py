"""The ARM CPU as this process sees it (Linux aarch64; no TF import).

The aarch64 counterpart of `cpuid.py`, read from the CPU itself, not from /proc/cpuinfo (under
`qemu-aarch64` that file describes the x86 host):
* MIDR_EL1 (implementer, part, variant, revision) through an `mrs` instruction, which Linux
  emulates for user space where HWCAP_CPUID says so, and QEMU's user mode as its CPU model;
* the feature bits Linux hands every process (getauxval AT_HWCAP, AT_HWCAP2), in
  /proc/cpuinfo's names: Eigen and the Arm Compute Library pick kernels by them (NEON, SVE,
  the dot-product and bf16 instructions);
* the SVE vector length (prctl PR_SVE_GET_VL): SVE kernels block by it, and the same CPU model
  can run at several.
"""

from __future__ import annotations

import ctypes
import functools
import platform
import sys
from typing import Any

from tf_determinism import native_code

# mrs x0, midr_el1; ret
_MIDR_CODE = bytes.fromhex("000038d5c0035fd6")
_AT_HWCAP, _AT_HWCAP2, _PR_SVE_GET_VL = 16, 26, 51
_HWCAP_CPUID = 1 << 11
# Linux's arch/arm64/include/uapi/asm/hwcap.h: the bits that choose numeric kernels.
_HWCAP = {
    0: "fp",
    1: "asimd",
    9: "fphp",
    10: "asimdhp",
    11: "cpuid",
    12: "asimdrdm",
    20: "asimddp",
    22: "sve",
    23: "asimdfhm",
}
_HWCAP2 = {
    1: "sve2",
    9: "svei8mm",
    10: "svef32mm",
    11: "svef64mm",
    12: "svebf16",
    13: "i8mm",
    14: "bf16",
}
_IMPLEMENTERS = {
    0x00: "none (QEMU max)",
    0x41: "ARM",
    0x46: "Fujitsu",
    0x51: "Qualcomm",
    0x61: "Apple",
    0xC0: "Ampere",
}
_PARTS = {
    (0x41, 0xD03): "Cortex-A53",
    (0x41, 0xD04): "Cortex-A35",
    (0x41, 0xD07): "Cortex-A57",
    (0x41, 0xD08): "Cortex-A72",
    (0x41, 0xD0B): "Cortex-A76",
    (0x41, 0xD0C): "Neoverse-N1",
    (0x41, 0xD40): "Neoverse-V1",
    (0x41, 0xD49): "Neoverse-N2",
    (0x41, 0xD4F): "Neoverse-V2",
    (0x46, 0x001): "A64FX",
    (0x00, 0x051): "QEMU max",
}


def available() -> bool:
    """True on Linux aarch64, where getauxval and (with HWCAP_CPUID) MIDR_EL1 can be read."""
    return sys.platform == "linux" and platform.machine().lower() in ("aarch64", "arm64")


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.getauxval.restype = ctypes.c_ulong
    libc.getauxval.argtypes = [ctypes.c_ulong]
    return libc


def _midr(hwcap: int) -> int | None:
    if not hwcap & _HWCAP_CPUID:  # the kernel would not emulate the read: SIGILL
        return None
    function = native_code.function(_MIDR_CODE, ctypes.c_uint64)
    return int(function()) if function is not None else None


def _sve_vector_bits(flags: set[str]) -> int | None:
    if "sve" not in flags:
        return None
    value = _libc().prctl(_PR_SVE_GET_VL, 0, 0, 0, 0)
    return (value & 0xFFFF) * 8 if value >= 0 else None


def report() -> dict[str, Any]:
    """vendor, model_name (from MIDR_EL1, None where unreadable), midr (hex), flags (a sorted
    list, /proc/cpuinfo names) and sve_vector_bits. Requires `available()`."""
    hwcap, hwcap2 = _libc().getauxval(_AT_HWCAP), _libc().getauxval(_AT_HWCAP2)
    flags = {name for bit, name in _HWCAP.items() if hwcap >> bit & 1}
    flags |= {name for bit, name in _HWCAP2.items() if hwcap2 >> bit & 1}
    midr = _midr(hwcap)
    vendor = model = None
    if midr is not None:
        implementer, part = midr >> 24 & 0xFF, midr >> 4 & 0xFFF
        vendor = _IMPLEMENTERS.get(implementer, f"implementer {implementer:#04x}")
        model = _PARTS.get((implementer, part), f"part {part:#05x}")
        model += f" r{midr >> 20 & 0xF}p{midr & 0xF}"
    return {
        "vendor": vendor,
        "model_name": model,
        "midr": None if midr is None else f"{midr:#010x}",
        "flags": sorted(flags),
        "sve_vector_bits": _sve_vector_bits(flags),
    }
