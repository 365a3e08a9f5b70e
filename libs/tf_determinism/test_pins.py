"""The numerics pins: the environment every run gets, and a CPU that cannot honour a pin."""

from __future__ import annotations

import pytest

from tf_determinism import PINNED_ENVIRONMENT, Numerics, PinError, cpuid, machine, pins


def test_every_bit_changing_variable_gets_a_pinned_value() -> None:
    env = pins.pinned_environment(Numerics())
    assert set(env) == set(PINNED_ENVIRONMENT)
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and env["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert env["TF_NUM_INTRAOP_THREADS"] == "2" and env["TF_NUM_INTEROP_THREADS"] == "2"
    other = pins.pinned_environment(
        Numerics(cpu_isa="native", onednn=False, deterministic=False, intra_op_threads=3)
    )
    assert other["ONEDNN_MAX_CPU_ISA"] == "DEFAULT" and other["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert other["TF_DETERMINISTIC_OPS"] == "0" and other["TF_NUM_INTRAOP_THREADS"] == "3"


def test_a_cpu_without_the_pinned_isa_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(pins, "_is_x86", lambda: True)
    monkeypatch.setattr(machine, "supported_isas", lambda flags=None: ["sse41", "avx"])
    with pytest.raises(PinError) as info:
        pins.pinned_environment(Numerics(cpu_isa="avx2"))
    message = str(info.value)
    assert "this CPU lacks AVX2 (its best oneDNN level is avx)" in message
    assert "--cpu_isa=avx2 cannot be honoured" in message and "\n" not in message
    assert pins.pinned_environment(Numerics(cpu_isa="native"))["ONEDNN_MAX_CPU_ISA"] == ("DEFAULT")


def test_isa_levels_follow_onednn_rules() -> None:
    avx2 = frozenset({"sse4_1", "avx", "avx2", "fma"})
    assert machine.supported_isas(avx2) == ["sse41", "avx", "avx2"]
    assert machine.supported_isas(avx2 - {"fma"}) == ["sse41", "avx"]
    avx512 = avx2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq"}
    assert machine.supported_isas(avx512)[-1] == "avx512_core"
    assert machine.supported_isas(frozenset()) == []


def test_fingerprint_fields() -> None:
    fp = machine.fingerprint()
    assert set(fp) >= {
        "vendor",
        "model_name",
        "isa_flags",
        "isa_levels",
        "caches",
        "logical_cores",
        "physical_cores",
        "schedulable_cores",
    }
    if fp["vendor"] is not None:  # Linux
        assert fp["logical_cores"] >= 1 and "L1d" in fp["caches"]


def test_cpuid_agrees_with_proc_cpuinfo_when_not_emulated() -> None:
    # The fingerprint reads this process's CPUID (what the kernels see, also under qemu);
    # natively it names the CPU /proc/cpuinfo names, and no emulation.
    if not cpuid.available() or not machine._processors():
        pytest.skip("no CPUID from this process or no /proc/cpuinfo here")
    info, seen = machine._processors()[0], cpuid.report()
    assert seen["vendor"] == info["vendor_id"]
    assert seen["family_model_stepping"] == (
        f"{info['cpu family']}/{info['model']}/{info['stepping']}"
    )
    assert set(seen["flags"]) <= set(info["flags"].split())
    assert {"sse4_1", "avx"} <= set(seen["flags"])
    fp = machine.fingerprint()
    assert fp["source"] == "cpuid" and fp["emulated_on"] is None
    assert fp["caches"]["L1d"]["size"].endswith("K")


def test_off_x86_the_isa_pin_has_no_meaning_and_onednn_stays_pinned(monkeypatch) -> None:
    # aarch64: oneDNN's own ISA choice (ACL), recorded; TF_ENABLE_ONEDNN_OPTS set explicitly,
    # as TF's default there follows the CPU model.
    monkeypatch.setattr(pins, "_is_x86", lambda: False)
    env = pins.pinned_environment(Numerics(cpu_isa="avx2"))
    assert env["ONEDNN_MAX_CPU_ISA"] == "DEFAULT" and env["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert pins.pinned_environment(Numerics(onednn=False))["TF_ENABLE_ONEDNN_OPTS"] == "0"


def test_an_arm_cpu_under_qemu_names_the_emulated_model_and_the_host(monkeypatch) -> None:
    # Under qemu-aarch64 /proc/cpuinfo (and /sys) describe the x86 host: the CPU comes from
    # MIDR_EL1 and the kernel's feature bits, the host goes to emulated_on, no caches.
    seen = {
        "vendor": "ARM",
        "model_name": "Neoverse-N1 r4p1",
        "midr": "0x414fd0c1",
        "flags": ["asimd", "fp"],
        "sve_vector_bits": None,
    }
    monkeypatch.setattr(machine.arm_id, "report", lambda: seen)
    host = {"vendor_id": "GenuineIntel", "cpu family": "6", "model": "167", "stepping": "1"}
    cpu, flags = machine._arm_cpu(host)
    assert cpu["emulated_on"] == "GenuineIntel 6/167/1" and cpu["caches"] is None
    assert (cpu["vendor"], cpu["model_name"], cpu["midr"]) == (
        "ARM",
        "Neoverse-N1 r4p1",
        "0x414fd0c1",
    )
    assert flags == {"asimd", "fp"}
    real = {"CPU implementer": "0x41", "CPU part": "0xd0c"}  # a real aarch64 /proc/cpuinfo
    assert machine._arm_cpu(real)[0]["emulated_on"] is None
