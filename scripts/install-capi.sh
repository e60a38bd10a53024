#!/usr/bin/env bash
# Installs the C client library: the shared and static library, the
# headers, and a pkg-config file, under PREFIX.
#
#   scripts/install-capi.sh PREFIX [TARGET_DIR]
#
# TARGET_DIR is where cargo put liblmclient (default: target/release, built
# with `cargo build --release -p lmclient`). Then compile with
#   cc app.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs lmclient)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:?usage: install-capi.sh PREFIX [TARGET_DIR]}
target=${2:-target/release}
# `cargo build -p lmclient` puts the libraries in TARGET_DIR; when they were
# built only as a dependency (as `cargo test --workspace` builds them for
# the tests), they stay in TARGET_DIR/deps.
if [ ! -e "$target/liblmclient.so" ] && [ -e "$target/deps/liblmclient.so" ]; then
  target="$target/deps"
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$target/liblmclient.so" "$prefix/lib/"
install -m 0644 "$target/liblmclient.a" "$prefix/lib/"
install -m 0644 capi/include/lmclient.h capi/include/lmpolicy.h capi/include/lm_attr.h "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" capi/lmclient.pc.in \
  >"$prefix/lib/pkgconfig/lmclient.pc"
echo "installed lmclient $version under $prefix"
