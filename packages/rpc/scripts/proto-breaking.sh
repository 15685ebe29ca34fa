#!/usr/bin/env bash
# `buf breaking` of the protos in the working tree against those on a git ref: PROTO_BREAKING_AGAINST when
# set; else the last release tag of the package (`@walstream/rpc@x.y.z`, as changesets tags it) reachable
# from HEAD; else `main` (or `origin/main` in a clone on another branch). On main before the first release
# that compares the tree with its own HEAD, so it guards uncommitted and branch changes only.
set -euo pipefail
cd "$(dirname "$0")/.."
git_dir=$(git rev-parse --path-format=absolute --git-common-dir)
ref=${PROTO_BREAKING_AGAINST:-}
if [ -z "$ref" ]; then
  ref=$(git describe --tags --abbrev=0 --match '@walstream/rpc@*' 2>/dev/null || true)
fi
if [ -z "$ref" ]; then
  if git rev-parse --verify --quiet main >/dev/null; then ref=main
  elif git rev-parse --verify --quiet origin/main >/dev/null; then ref=origin/main
  else
    echo "proto:breaking: neither main nor origin/main exists here; set PROTO_BREAKING_AGAINST to a ref" >&2
    exit 1
  fi
fi
buf breaking --against "${git_dir}#ref=${ref},subdir=packages/rpc/proto"
echo "proto:breaking: no wire-breaking change against ${ref}"
