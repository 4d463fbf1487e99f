#!/usr/bin/env bash
# Builds the RESP parser fuzzer with libFuzzer + AddressSanitizer and runs it.
#   Fuzz/run.sh                 # runs for 300 s
#   Fuzz/run.sh -max_total_time=3600
# Crashes are written to Fuzz/artifacts/; turn each into a unit test in Tests/RESPTests.
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release --product RESPFuzzer \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
mkdir -p corpus artifacts
# Seed the corpus with one example of every RESP type.
printf '+OK\r\n' > corpus/simple; printf -- '-ERR x\r\n' > corpus/error; printf ':-42\r\n' > corpus/int
printf '$5\r\nhello\r\n' > corpus/bulk; printf '*2\r\n$1\r\na\r\n:1\r\n' > corpus/array; printf '_\r\n' > corpus/null
printf '#t\r\n' > corpus/bool; printf ',-inf\r\n' > corpus/double; printf '(123456789012345678901\r\n' > corpus/big
printf '!3\r\nERR\r\n' > corpus/bulkerror; printf '=7\r\ntxt:abc\r\n' > corpus/verbatim
printf '%%1\r\n+k\r\n:1\r\n' > corpus/map; printf '~1\r\n#f\r\n' > corpus/set
printf '|1\r\n+a\r\n:1\r\n>2\r\n+m\r\n$1\r\nx\r\n' > corpus/attribute-push
# Deep seeds: attribute chains and nested aggregates past the depth limit (they once overflowed the stack).
# libFuzzer's default max_len (4096) could never reach them: -max_len is raised below.
python3 -c 'import sys; sys.stdout.write("|0\r\n" * 2500 + "+PONG\r\n")' > corpus/attribute-chain
python3 -c 'import sys; sys.stdout.write("|1\r\n+k\r\n:1\r\n" * 40 + "+PONG\r\n")' > corpus/attribute-chain-pairs
python3 -c 'import sys; sys.stdout.write("*1\r\n" * 3000 + ":1\r\n")' > corpus/deep-array
python3 -c 'import sys; sys.stdout.write("%1\r\n|1\r\n+a\r\n:1\r\n" * 20 + "_\r\n")' > corpus/map-attribute-nesting
exec .build/release/RESPFuzzer corpus -artifact_prefix=artifacts/ -max_len=16384 -max_total_time=300 -print_final_stats=1 "$@"
