#!/usr/bin/env bash
# The RESP parser's throughput on a 5 MB reply (300,000 bulk strings) fed in 1 KB chunks, 64 KB chunks and
# whole, release build. Parsing is resumable: the three figures stay close (cost linear in bytes).
#   Benchmarks/parser.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product resp-parser-throughput >/dev/null
.build/release/resp-parser-throughput
