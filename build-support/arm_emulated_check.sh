#!/usr/bin/env bash
# The aarch64 checks (called by .ci/run), on an emulated Neoverse-N1 (Graviton2's core) under
# `qemu-aarch64`, in the environment `repro emulate` builds the first time (Debian 12's arm64
# Python and the lockfile's aarch64 wheels, cached in ~/.cache/reproducible/aarch64):
# 1. the GAN's short run natively (x86-64) and emulated: today DIFFERENT (x86 and ARM do not
#    share bits yet: README "x86-64 and aarch64"), and the report must say where it diverged and
#    name the architecture as the cause. Should the bits ever match, this fails so that the
#    README's rows are re-measured.
# 2. the same run twice on the emulated aarch64 CPU: IDENTICAL (the same-machine guarantee).
# 3. the same run with `--numerics=portable`, natively and emulated: IDENTICAL (README "x86-64
#    and aarch64: the same bits with --numerics=portable"); and the classifier's and the text LM's.
# qemu-user comes from Debian: installed with apt-get when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v qemu-aarch64 >/dev/null; then
  echo "arm_emulated_check: installing qemu-user (Debian) for qemu-aarch64"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q qemu-user >/dev/null || {
    apt-get update -q >/dev/null && apt-get install -y -q qemu-user >/dev/null; }
fi
runs="$(mktemp -d "${TMPDIR:-/tmp}/arm_emulated_check.XXXXXX")"
trap 'rm -rf "$runs"' EXIT
flags=(--random_seed=7 --data_dir="$runs/data")

status=0
./pants run apps/repro -- emulate --cpu neoverse-n1 --runs_root "$runs/x86-arm" -- \
  "${flags[@]}" | tee "$runs/emulate.txt" || status=$?
if [ "$status" -eq 0 ]; then
  echo "arm_emulated_check: emulate exited 0 (IDENTICAL), expected 1 (DIFFERENT, as measured):" \
       "x86 and aarch64 now agree; re-measure the README's aarch64 rows" >&2
  exit 1
elif [ "$status" -ne 1 ]; then
  echo "arm_emulated_check: emulate failed (exit $status; its error is above)" >&2
  exit 1
fi
for expected in "DIFFERENT: mnist_gan natively and on an emulated aarch64 neoverse-n1" \
                "first at step 1" "tensors of model.ckpt-2 differ" \
                "1. the machine architecture"; do
  grep -qF "$expected" "$runs/emulate.txt" || {
    echo "arm_emulated_check: emulate's report lacks '$expected'" >&2; exit 1; }
done

# What the emulated process recorded about itself (run.json): the architecture, the CPU from
# its own MIDR_EL1 (not the x86 host's /proc/cpuinfo), the host, and the pins as applied there.
python3 - "$runs"/x86-arm/emulate-neoverse-n1-*-neoverse-n1/run.json <<'PY'
import json, sys
record = json.load(open(sys.argv[1]))
cpu, det = record["host"]["cpu"], record["determinism"]
checks = {"host.machine": record["host"]["machine"] == "aarch64",
          "host.cpu.model_name": cpu["model_name"].startswith("Neoverse-N1"),
          "host.cpu.midr": cpu["midr"] == "0x414fd0c1",
          "host.cpu.emulated_on": bool(cpu["emulated_on"]),
          "versions.tensorflow_cpu_aws": record["versions"].get("tensorflow_cpu_aws") == "2.15.1",
          "determinism.cpu_isa_pin": det["cpu_isa_pin"] == "no meaning on this platform",
          "TF_ENABLE_ONEDNN_OPTS": det["environment"]["TF_ENABLE_ONEDNN_OPTS"] == "0",
          "ONEDNN_MAX_CPU_ISA": det["environment"]["ONEDNN_MAX_CPU_ISA"] == "DEFAULT"}
bad = [name for name, ok in checks.items() if not ok]
sys.exit(f"arm_emulated_check: run.json wrong in {bad}: {cpu}" if bad else 0)
PY

./pants run apps/repro -- twice --quick --cpu neoverse-n1 --runs_root "$runs/arm-arm" -- \
  "${flags[@]}"

for app in mnist_gan mnist_classifier text_lm; do
  ./pants run apps/repro -- emulate --app "$app" --cpu neoverse-n1 --runs_root "$runs/portable" \
    -- "${flags[@]}" --numerics=portable || {
    echo "arm_emulated_check: the portable $app was not IDENTICAL on x86-64 and the emulated" \
         "aarch64 (report above)" >&2; exit 1; }
done
echo "arm_emulated_check: passed (x86 against aarch64 DIFFERENT as measured; aarch64 twice" \
     "IDENTICAL; x86 against aarch64 with --numerics=portable IDENTICAL: the GAN, the classifier, the text LM)"
