"""A few bytes of this CPU's machine code, called from Python (ctypes, no compiler).

The CPU identification registers (x86 CPUID, aarch64 MIDR_EL1) are read by an instruction run
in this very process: under a user-mode emulator (qemu) only such an instruction sees the
emulated CPU; /proc/cpuinfo, /sys and any child process see the host.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
from collections.abc import Callable
from typing import Any

_PAGES: list[mmap.mmap] = []


@functools.cache
def function(code: bytes, restype: Any, *argtypes: Any) -> Callable[..., Any] | None:
    """`code` in an executable page, as a C function; None where no such page can be mapped
    (a hardened kernel). The caller makes sure the code is for this architecture."""
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, AttributeError, ValueError):
        return None
    page.write(code)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    _PAGES.append(page)  # the mapping lives as long as the process (one per function)
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)
