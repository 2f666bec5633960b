#!/usr/bin/env bash
# System packages the test suite needs beyond Python's, from Debian/Ubuntu's package manager:
#   chromium, chromium-driver  headless browser for the notebook-HTML tests (driven by selenium)
#   graphviz                   `dot`, so both drawing engines are tested
# Idempotent: does nothing when every program is already on the PATH. Runs apt-get as root
# (CI runs as root), else through sudo when there is one.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v dot >/dev/null 2>&1 || need+=(graphviz)
if [ ${#need[@]} -eq 0 ]; then
    echo "install-system-deps: chromium, chromedriver and dot are installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: missing ${need[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-system-deps: missing ${need[*]}; run this script as root (apt-get install -y ${need[*]})" >&2
        exit 1
    fi
    sudo=(sudo)
fi
echo "install-system-deps: installing ${need[*]}"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
