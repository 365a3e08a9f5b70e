#!/usr/bin/env bash
# One short run of the text LM on its real text (called by .ci/run): Debian's fortunes, which
# the tests do not need (they generate tiny text). Installed with apt-get when missing, pinned
# to the version the README's figures were measured with.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FORTUNES_VERSION="1:1.99.1-7.3"
# The package, not the directory: fortunes-min (which fortune-mod pulls in) fills that directory
# with three files.
if ! dpkg-query -W -f='${Status}' fortunes 2>/dev/null | grep -q "ok installed"; then
  echo "text_lm_check: installing Debian's fortunes=$FORTUNES_VERSION for the text LM"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "fortunes=$FORTUNES_VERSION" >/dev/null || {
    apt-get update -q >/dev/null && apt-get install -y -q "fortunes=$FORTUNES_VERSION" >/dev/null; }
fi
runs="$(mktemp -d "${TMPDIR:-/tmp}/text_lm_check.XXXXXX")"
trap 'rm -rf "$runs"' EXIT
./pants run apps/text_lm -- --random_seed=123 --max_train_steps=30 --log_step_count_steps=10 \
  --model_dir="$runs/run" --data_dir="$runs/data"
python3 - "$runs/run" <<'PY'
import json, sys
metrics = json.load(open(f"{sys.argv[1]}/metrics.json"))
samples = open(f"{sys.argv[1]}/samples.txt", encoding="utf-8").read()
assert metrics["global_step"] == 30 and metrics["validation_windows"] > 1000, metrics
assert samples.count(">>>") == 8, samples[:500]
print(f"text_lm_check: OK, 30 steps on the fortunes: {metrics['validation_bits_per_character']:.3f}"
      f" bits per character (unigram {metrics['unigram_bits_per_character']:.3f})")
PY
