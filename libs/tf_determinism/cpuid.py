"""The CPU as this process's own CPUID instruction reports it (x86-64 Linux; no TF import).

Why not /proc/cpuinfo and /sys: oneDNN and Eigen choose their kernels and block sizes from the
CPUID instruction, run in this process. Under an emulator (`qemu-x86_64 -cpu Haswell`, the way
`repro emulate` tests other CPUs) /proc/cpuinfo still describes the host, and a child process
(a probe) runs natively on it; only an instruction executed here sees the emulated model.

The instruction is run through a 27-byte function in an executable page (`native_code`).
Where no such page can be mapped (a hardened kernel), `available()` is False and callers fall
back to /proc/cpuinfo.
"""

from __future__ import annotations

import ctypes
import platform
import struct
from collections.abc import Callable
from typing import Any

from tf_determinism import native_code

# push rbx; mov eax, edi; mov ecx, esi; mov r8, rdx; cpuid;
# mov [r8], eax; mov [r8+4], ebx; mov [r8+8], ecx; mov [r8+12], edx; pop rbx; ret
_CPUID_CODE = bytes.fromhex("53 89f8 89f1 4989d0 0fa2 418900 41895804 41894808 4189500c 5b c3")
# xor ecx, ecx; xgetbv; shl rdx, 32; or rax, rdx; ret
_XGETBV_CODE = bytes.fromhex("31c90f01d048c1e2204809d0c3")
_Regs = ctypes.c_uint32 * 4

# (leaf, subleaf, register index eax=0 ebx=1 ecx=2 edx=3, bit) -> /proc/cpuinfo flag name.
_FLAG_BITS = {
    "sse4_1": (1, 0, 2, 19),
    "fma": (1, 0, 2, 12),
    "avx": (1, 0, 2, 28),
    "f16c": (1, 0, 2, 29),
    "avx2": (7, 0, 1, 5),
    "avx512f": (7, 0, 1, 16),
    "avx512dq": (7, 0, 1, 17),
    "avx512bw": (7, 0, 1, 30),
    "avx512vl": (7, 0, 1, 31),
    "avx512_vnni": (7, 0, 2, 11),
    "amx_bf16": (7, 0, 3, 22),
    "avx512_fp16": (7, 0, 3, 23),
    "amx_tile": (7, 0, 3, 24),
    "amx_int8": (7, 0, 3, 25),
    "avx_vnni": (7, 1, 0, 4),
    "avx512_bf16": (7, 1, 0, 5),
}
# The OS state (XCR0 bits) each flag needs, as Linux hides a flag whose state it does not save.
_XCR0_AVX, _XCR0_AVX512, _XCR0_AMX = 0x6, 0xE6, 0x60006


def _function(code: bytes, restype: Any, *argtypes: Any) -> Callable[..., Any] | None:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return native_code.function(code, restype, *argtypes)


def available() -> bool:
    """True where CPUID can be run from this process."""
    return (
        _function(_CPUID_CODE, None, ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(_Regs))
        is not None
    )


def cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """(eax, ebx, ecx, edx) of CPUID(leaf, subleaf). Requires `available()`."""
    function = _function(_CPUID_CODE, None, ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(_Regs))
    if function is None:
        raise OSError("CPUID cannot be run from this process")
    regs = _Regs()
    function(leaf, subleaf, regs)
    return regs[0], regs[1], regs[2], regs[3]


def _xcr0() -> int:
    if not cpuid(1)[2] >> 27 & 1:  # OSXSAVE: XGETBV is usable
        return 0
    function = _function(_XGETBV_CODE, ctypes.c_uint64)
    return int(function()) if function is not None else 0


def _flags() -> set[str]:
    max_leaf, xcr0 = cpuid(0)[0], _xcr0()
    flags = set()
    for name, (leaf, subleaf, register, bit) in _FLAG_BITS.items():
        if leaf <= max_leaf and cpuid(leaf, subleaf)[register] >> bit & 1:
            flags.add(name)
    needs = {
        "avx": _XCR0_AVX,
        "fma": _XCR0_AVX,
        "f16c": _XCR0_AVX,
        "avx2": _XCR0_AVX,
        "avx_vnni": _XCR0_AVX,
    }
    needs.update({f: _XCR0_AVX512 for f in flags if f.startswith("avx512")})
    needs.update({f: _XCR0_AMX for f in flags if f.startswith("amx")})
    return {f for f in flags if xcr0 & needs.get(f, 0) == needs.get(f, 0)}


def _signature() -> tuple[str, str]:
    eax = cpuid(1)[0]
    family, model = eax >> 8 & 0xF, eax >> 4 & 0xF
    if family == 0xF:
        family += eax >> 20 & 0xFF
    if family in (0x6, 0xF) or family > 0xF:
        model |= (eax >> 16 & 0xF) << 4
    return f"{family}/{model}/{eax & 0xF}", _brand()


def _brand() -> str:
    if cpuid(0x80000000)[0] < 0x80000004:
        return ""
    raw = b"".join(struct.pack("<4I", *cpuid(leaf)) for leaf in range(0x80000002, 0x80000005))
    return raw.split(b"\0")[0].decode("ascii", "replace").strip()


def _kib(size: int) -> str:
    return f"{size // 1024}K"


def _caches_leaf4() -> dict[str, Any]:
    caches = {}
    for index in range(16):
        eax, ebx, ecx, _ = cpuid(4, index)
        kind = eax & 0x1F  # 1 data, 2 instruction, 3 unified, 0 no more
        if kind == 0:
            break
        if kind == 2:
            continue
        size = (
            ((ebx >> 22 & 0x3FF) + 1) * ((ebx >> 12 & 0x3FF) + 1) * ((ebx & 0xFFF) + 1) * (ecx + 1)
        )
        level = eax >> 5 & 0x7
        caches[f"L{level}{'d' if kind == 1 else ''}"] = {
            "size": _kib(size),
            "shared_by_logical": (eax >> 14 & 0xFFF) + 1,
        }
    return caches


def _caches_amd() -> dict[str, Any]:
    top = cpuid(0x80000000)[0]
    if top >= 0x8000001D and cpuid(0x80000001)[2] >> 22 & 1:  # topology extensions
        caches = {}
        for index in range(16):
            eax, ebx, ecx, _ = cpuid(0x8000001D, index)
            kind = eax & 0x1F
            if kind == 0:
                break
            if kind == 2:
                continue
            size = (
                ((ebx >> 22 & 0x3FF) + 1)
                * ((ebx >> 12 & 0x3FF) + 1)
                * ((ebx & 0xFFF) + 1)
                * (ecx + 1)
            )
            caches[f"L{eax >> 5 & 0x7}{'d' if kind == 1 else ''}"] = {
                "size": _kib(size),
                "shared_by_logical": (eax >> 14 & 0xFFF) + 1,
            }
        return caches
    caches = {}
    if top >= 0x80000005:
        caches["L1d"] = {"size": f"{cpuid(0x80000005)[2] >> 24}K", "shared_by_logical": None}
    if top >= 0x80000006:
        _, _, ecx, edx = cpuid(0x80000006)
        caches["L2"] = {"size": f"{ecx >> 16}K", "shared_by_logical": None}
        if edx >> 18:
            caches["L3"] = {"size": f"{(edx >> 18) * 512}K", "shared_by_logical": None}
    return caches


def report() -> dict[str, Any]:
    """vendor, model_name, family_model_stepping, flags (a sorted list, /proc/cpuinfo names,
    as the OS enables them) and caches ({"L1d"|"L2"|"L3": {"size", "shared_by_logical"}}), as
    CPUID reports them here. Requires `available()`."""
    _, ebx, ecx, edx = cpuid(0)
    vendor = struct.pack("<3I", ebx, edx, ecx).decode("ascii", "replace")
    signature, brand = _signature()
    caches = _caches_amd() if vendor == "AuthenticAMD" else _caches_leaf4()
    return {
        "vendor": vendor,
        "model_name": brand,
        "family_model_stepping": signature,
        "flags": sorted(_flags()),
        "caches": caches,
    }
