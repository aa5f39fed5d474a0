#!/usr/bin/env bash
# The whole test suite from a fresh machine: system packages (Debian/Ubuntu), then a NEW virtualenv
# with the project (`pip install .`) and the dev requirements, the dependency check, lint and tests.
# Nothing installed by hand elsewhere on the machine can make it pass: everything the tests import
# comes from that virtualenv, made anew on every run (pip's wheel cache keeps a warm run fast).
# Usage: bash scripts/test.sh [pytest args...]
# Settings: SOUNDKIT_TEST_VENV (where the virtualenv goes; default ~/.cache/soundkit/test-venv-<hash of
# this checkout's path>), PIP_CACHE_DIR (pip's cache; default ~/.cache/pip).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

apt_packages=(rubberband-cli libsndfile1 ffmpeg chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing system packages: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: cannot install ${missing[*]} (no apt-get); tests needing them will skip" >&2
  fi
fi

python=${PYTHON:-python3}
venv=${SOUNDKIT_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/soundkit/test-venv-$(pwd -P | cksum | cut -d' ' -f1)}
echo "new virtualenv: $venv" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# the project with its optional Ray extra (soundkit[scale]: the scale-out tests run on a real cluster);
# the filter drops one machine's notes about its pip config's missing local indexes, nothing else
"${pip[@]}" install ".[scale]" -r requirements-dev.txt 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
echo "installed in $((SECONDS - start)) s" >&2

echo "dependency check: the library and the app against requirements.txt" >&2
deptry .
echo "dependency check: tests and benchmarks against requirements-dev.txt" >&2
deptry . --config tests/deptry.toml
ruff check .
python -m pytest "$@"
