#!/usr/bin/env bash
# The Debian packages the slow tier and the emulated checks need (called by .ci/run before the
# tests), each installed with apt-get only when missing: qemu-user (qemu-x86_64, qemu-aarch64:
# `repro emulate`) and the fortunes, the text LM's real text, pinned to the version the README's
# figures were measured with. The quick tier needs neither.
set -euo pipefail

FORTUNES_VERSION="1:1.99.1-7.3"
wanted=()
command -v qemu-x86_64 >/dev/null && command -v qemu-aarch64 >/dev/null || wanted+=(qemu-user)
# The package, not /usr/share/games/fortunes: fortunes-min also fills that (with three files).
dpkg-query -W -f='${Status}' fortunes 2>/dev/null | grep -q "ok installed" ||
  wanted+=("fortunes=$FORTUNES_VERSION")
if [ "${#wanted[@]}" -eq 0 ]; then
  echo "debian_packages: qemu-user and fortunes are installed"
  exit 0
fi
echo "debian_packages: installing ${wanted[*]} (Debian)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${wanted[@]}" >/dev/null || {
  apt-get update -q >/dev/null && apt-get install -y -q "${wanted[@]}" >/dev/null; }
