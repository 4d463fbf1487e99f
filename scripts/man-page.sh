#!/usr/bin/env bash
# The man page, generated from the binary's own help by swift-argument-parser's generate-manual tool (the tool its
# GenerateManual plugin runs; built here on its own so that it can document any build of the binary, the static
# release one included). One page, redis-healthd.1, with every subcommand.
#   scripts/man-page.sh path/to/redis-healthd OUTPUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "$1")
out=$(realpath -m "$2")
parser=.build/checkouts/swift-argument-parser
[ -d "$parser" ] || swift package resolve
tool_build=.build/generate-manual
swift build -c release --package-path "$parser" --scratch-path "$tool_build" --product generate-manual >/dev/null
mkdir -p "$out"
"$tool_build/release/generate-manual" "$binary" --output-directory "$out" --section 1 \
    --authors "redis-healthd maintainers" >/dev/null
[ -s "$out/redis-healthd.1" ] || { echo "man-page: generate-manual wrote no redis-healthd.1 in $out"; exit 1; }
