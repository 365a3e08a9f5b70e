#!/usr/bin/env bash
# Builds the library wheels and checks them outside the repository: a fresh venv gets the locked
# TensorFlow and numpy from PyPI (every version pinned by 3rdparty/python/default.lock), then
# the wheels with no index at all (so they may require nothing the lock does not cover), then
# wheel_smoke.py runs there from a temporary directory. Called by .ci/run; any failure exits
# non-zero.
#
#   PYTHON=python3.11   the interpreter of the venv
#   PIP_CACHE_DIR       as for pip (default ~/.cache/pip): with it warm, the TensorFlow install
#                       takes seconds instead of a download of about 250 MB
#   KEEP_WHEEL_VENV=1   keep the temporary directory (the venv) and print its path
# The wheels and sdists it checked stay in dist/check_wheels/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Every python_distribution. A library imported by a distributed one needs a distribution of
# its own here (Pants then makes it a requirement instead of copying it into the wheel).
DISTS=(libs/tf_determinism:dist libs/seeded_input:dist)
PYTHON="${PYTHON:-python3.11}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/check_wheels.XXXXXX")"
if [[ "${KEEP_WHEEL_VENV:-}" == 1 ]]; then
  trap 'echo "check_wheels: kept $tmp"' EXIT
else
  trap 'rm -rf "$tmp"' EXIT
fi

timed() {
  local what="$1" start="$SECONDS"
  shift
  "$@"
  echo "check_wheels: $what: $((SECONDS - start)) s"
}

# Pants wants its dist dir inside the build root (dist/ is git-ignored); a fresh one, so that no
# wheel of an earlier build is installed.
distdir=dist/check_wheels
rm -rf "$distdir"
timed "wheels built" ./pants --pants-distdir="$distdir" package "${DISTS[@]}"
shopt -s nullglob
wheels=("$PWD/$distdir"/*.whl)
shopt -u nullglob
if (( ${#wheels[@]} != ${#DISTS[@]} )); then
  echo "check_wheels: expected ${#DISTS[@]} wheels in $distdir, found ${#wheels[@]}" >&2
  exit 1
fi

# name==version for everything in the lock: pip's choices for TensorFlow's own dependencies
# are then the locked ones too.
"$PYTHON" - 3rdparty/python/default.lock > "$tmp/constraints.txt" <<'EOF'
import json
import sys

with open(sys.argv[1]) as f:
    lock = json.loads("".join(line for line in f if not line.startswith("//")))
(resolve,) = lock["locked_resolves"]
for req in sorted(resolve["locked_requirements"], key=lambda r: r["project_name"]):
    print(f"{req['project_name']}=={req['version']}")
EOF
grep -E '^(tensorflow-cpu|numpy)==' "$tmp/constraints.txt" | sed 's/^/check_wheels: locked /'

timed "venv created" "$PYTHON" -m venv "$tmp/venv"
pip=("$tmp/venv/bin/python" -m pip --disable-pip-version-check)
timed "locked TensorFlow installed" "${pip[@]}" install -q -c "$tmp/constraints.txt" \
  "tensorflow-cpu; sys_platform == 'linux'" "tensorflow; sys_platform == 'darwin'" numpy
timed "wheels installed" "${pip[@]}" install -q --no-index -c "$tmp/constraints.txt" \
  "${wheels[@]}"
"${pip[@]}" check

mkdir "$tmp/work"
cp build-support/wheel_smoke.py "$tmp/work/"
# -I: neither PYTHONPATH nor the script's directory on sys.path; cwd outside the repository.
# TF_CPP_MIN_LOG_LEVEL=1 (as the apps set it): no C++ INFO lines, warnings and errors still show.
(cd "$tmp/work" &&
  TF_CPP_MIN_LOG_LEVEL=1 timed "wheel_smoke.py" "$tmp/venv/bin/python" -I wheel_smoke.py)
echo "check_wheels: OK (${DISTS[*]})"
