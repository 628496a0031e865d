#!/usr/bin/env bash
# Installs the system packages Meritline needs to build and to run its tests, on Debian/Ubuntu:
# compilers and build tools (a C compiler for the bundled SQLite, cmake, pkg-config), the SIP
# peers the real-peer tests drive (SIPp from sip-tester, baresip), and sqlite3, sox and espeak-ng
# for inspecting the database and making prompts. Idempotent: it checks what is already there
# and runs `apt-get update` + `apt-get install` only for what is missing. Installs Rust with
# rustup if no cargo is found. Runs as root, or through sudo when available.
#
# Usage: scripts/install-deps.sh [--check]
#   --check  only report what is missing (exit status 1 if anything is), install nothing.
set -euo pipefail

check_only=0
case "${1:-}" in
  "") ;;
  --check) check_only=1 ;;
  -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
  *) echo "install-deps: unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

# "command package" pairs: the package is needed when the command is not on PATH.
required_commands=(
  "cc build-essential"
  "make build-essential"
  "cmake cmake"
  "pkg-config pkg-config"
  "curl curl"
  "sipp sip-tester"
  "baresip baresip"
  "sqlite3 sqlite3"
  "sox sox"
  "espeak-ng espeak-ng"
)
# Packages without a command of their own, checked with dpkg.
required_packages=(ca-certificates)

missing=()
add_missing() {
  local package=$1 existing
  for existing in "${missing[@]+"${missing[@]}"}"; do
    [ "$existing" = "$package" ] && return 0
  done
  missing+=("$package")
}

for pair in "${required_commands[@]}"; do
  read -r command package <<<"$pair"
  command -v "$command" >/dev/null 2>&1 || add_missing "$package"
done
for package in "${required_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    add_missing "$package"
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: system packages present"
elif [ "$check_only" -eq 1 ]; then
  echo "install-deps: missing packages: ${missing[*]}"
else
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: apt-get not found; install these packages (Debian names) yourself: ${missing[*]}" >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "install-deps: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Rust toolchain: rustup in the user's home if there is no cargo at all.
if [ -d "$HOME/.cargo/bin" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi
if cargo_version=$(cargo --version 2>/dev/null); then
  echo "install-deps: $cargo_version"
elif [ "$check_only" -eq 1 ]; then
  echo "install-deps: missing: a working Rust toolchain (cargo --version fails)"
  missing+=(rust)
else
  echo "install-deps: installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --component rustfmt,clippy
  echo "install-deps: installed $("$HOME/.cargo/bin/cargo" --version); add \$HOME/.cargo/bin to PATH"
fi

if [ "$check_only" -eq 1 ] && [ ${#missing[@]} -gt 0 ]; then
  exit 1
fi
exit 0
