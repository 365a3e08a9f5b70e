#!/usr/bin/env bash
# One emulated comparison (called by .ci/run): the GAN trained natively and under
# `qemu-x86_64 -cpu Haswell` (another vendor's CPUID, no AVX-512, other cache sizes, exact
# rcpps/rsqrtps) must give bitwise-identical losses and checkpoints. The configuration is the
# one whose graph holds the most kinds of op: infogan (softmax cross-entropy, the normal's
# log-density), minimax (logs), the gradient penalty, two micro-batches (the tree means).
# qemu-user comes from Debian: installed with apt-get when it is missing. About 5 minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v qemu-x86_64 >/dev/null; then
  echo "emulated_check: installing qemu-user (Debian) for qemu-x86_64"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q qemu-user >/dev/null || {
    apt-get update -q >/dev/null && apt-get install -y -q qemu-user >/dev/null; }
fi
runs="$(mktemp -d "${TMPDIR:-/tmp}/emulated_check.XXXXXX")"
trap 'rm -rf "$runs"' EXIT
./pants run apps/repro -- emulate --cpu Haswell --runs_root "$runs" -- \
  --gan_type=infogan --loss=minimax --gradient_penalty_weight=1 --micro_batches=2 \
  --random_seed=7 --data_dir="$runs/data"
