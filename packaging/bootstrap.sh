#!/usr/bin/env bash
# Set up Tray Agent on Debian 12 and run it, or run its test suite.
#
#   bash packaging/bootstrap.sh run  [tray-agent args...]   install, then start the app
#   bash packaging/bootstrap.sh test [pytest args...]       install (with test extras), lint, run pytest
#   bash packaging/bootstrap.sh lint                        install (with test extras), run ruff and mypy
#
# Installs the system packages with apt (as root, or through sudo) unless they are all
# present already, creates a virtualenv at ${TRAY_AGENT_VENV:-.venv} (relative paths are
# taken from the repo root) with python3 from PATH (3.11+), and installs the project and
# every first-party plugin under plugins/ editable. `test` runs the lint and type gate
# (packaging/lint.sh) first and stops on a finding. Safe to run again: steps that are
# already done are skipped.
set -euo pipefail

usage() {
  echo "usage: bash packaging/bootstrap.sh {run|test|lint} [args...]" >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
mode=$1
shift
case "$mode" in
  run) extras="linux,postgres" ;;
  test|lint) extras="linux,postgres,test" ;;
  -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
  *) usage ;;
esac

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

started=$SECONDS
say() { printf '[bootstrap %3ds] %s\n' $((SECONDS - started)) "$*"; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

# --- system packages ------------------------------------------------------------------
apt_packages=(
  xvfb xdotool imagemagick x11-utils trayer dunst libnotify-bin dbus dbus-x11
  libgirepository1.0-dev libcairo2-dev pkg-config libdbus-1-dev
  gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1 gir1.2-webkit2-4.1
  chromium postgresql nginx fonts-dejavu-core fonts-noto-color-emoji python3-venv xdg-utils desktop-file-utils
)

install_system_packages() {
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    say "not a Debian system: skipping apt; install the equivalents of: ${apt_packages[*]}"
    return
  fi
  local missing=() p status
  for p in "${apt_packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "system packages: all ${#apt_packages[@]} installed"
    return
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null ||
      die "not root and no sudo; as root run: apt-get install -y --no-install-recommends ${missing[*]}"
    sudo=(sudo)
  fi
  say "system packages: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null
  say "system packages: done"
}

# --- git-ignored paths ----------------------------------------------------------------
ensure_gitignore() {
  local entry
  touch .gitignore
  for entry in .venv/ __pycache__/ '*.egg-info/' .pytest_cache/ .mypy_cache/ test-artifacts/ build/ dist/; do
    grep -qxF "$entry" .gitignore || grep -qxF "${entry%/}" .gitignore || echo "$entry" >>.gitignore
  done
}

# --- Python environment ---------------------------------------------------------------
venv=${TRAY_AGENT_VENV:-.venv}

create_venv() {
  local py
  py=$(command -v python3) || die "python3 not found on PATH"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$py is Python $("$py" -c 'import sys; print(sys.version.split()[0])'); 3.11+ is needed"
  if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c 'import pip' 2>/dev/null; then
    say "venv: reusing $venv"
  else
    say "venv: creating $venv with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
    rm -rf "$venv"
    "$py" -m venv "$venv"
  fi
}

install_python_packages() {
  local targets=(-e ".[$extras]") plugin_dirs=() manifests=(pyproject.toml) f
  for f in plugins/*/pyproject.toml; do
    [[ -f $f ]] || continue
    manifests+=("$f")
    plugin_dirs+=("${f%/pyproject.toml}")
    targets+=(-e "./${f%/pyproject.toml}")
  done
  # Skip pip when nothing that decides what gets installed has changed since last time.
  local stamp="$venv/.tray-agent-bootstrap-$mode" want
  want=$({
    echo "$extras"
    "$venv/bin/python" -c 'import sys; print(sys.version)'
    sha256sum "${manifests[@]}"
  } | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    say "python packages: up to date (.[$extras] + ${#plugin_dirs[@]} plugin(s))"
    return
  fi
  say "python packages: installing .[$extras] + ${#plugin_dirs[@]} plugin(s)${plugin_dirs[*]:+ (${plugin_dirs[*]})}; a first install compiles PyGObject (1-2 min)"
  # (pip's warnings about configured local package dirs that do not exist are dropped)
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q --progress-bar off \
    "${targets[@]}" </dev/null 2>&1 |
    { grep -v 'is ignored: it is neither a file nor a directory' || true; }
  echo "$want" >"$stamp"
  say "python packages: done"
}

install_system_packages
ensure_gitignore
create_venv
install_python_packages

case "$mode" in
  run)
    say "starting tray-agent"
    exec "$venv/bin/tray-agent" "$@"
    ;;
  lint)
    exec bash packaging/lint.sh "$venv/bin/python"
    ;;
  test)
    say "running the lint and type gate (packaging/lint.sh)"
    bash packaging/lint.sh "$venv/bin/python" || die "the lint and type gate failed (above); pytest was not run"
    say "running pytest $*"
    rc=0
    "$venv/bin/python" -m pytest "$@" </dev/null || rc=$?
    say "pytest exited $rc"
    if [[ $rc -eq 5 ]]; then
      echo "[bootstrap] error: pytest collected no tests (exit 5): treating that as a failure" >&2
      exit 1
    fi
    exit "$rc"
    ;;
esac
