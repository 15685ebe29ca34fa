#!/usr/bin/env bash
# Fails when the committed src/gen differs from what `buf generate` makes of the protos now: someone edited
# a .proto without `pnpm proto`, or edited generated code by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
buf generate --output "$out"
if ! diff -r src/gen "$out/src/gen" >"$out/diff.txt"; then
  head -n 60 "$out/diff.txt" >&2
  echo "proto:check: packages/rpc/src/gen is stale — run \`pnpm proto\` and commit the result" >&2
  exit 1
fi
echo "proto:check: src/gen matches the protos"
