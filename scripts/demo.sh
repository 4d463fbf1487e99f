#!/usr/bin/env bash
# Builds redis-healthd and shows what it can do (later: runs it against a local redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v pkg-config >/dev/null && pkg-config --exists libsystemd 2>/dev/null || {
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libsystemd0 libudev1 >/dev/null
    $SUDO apt-get install -y -qq pkg-config libsystemd-dev redis-server redis-tools >/dev/null
}
swift build -c release --product redis-healthd
.build/release/redis-healthd --version
.build/release/redis-healthd --help
