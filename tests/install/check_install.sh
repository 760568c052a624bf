#!/bin/sh
# Installs the build into a temporary prefix, checks every installed piece is there, builds
# roundtrip.c against the installed pkg-config file and runs it.
#   check_install.sh BUILD_DIR SOURCE_DIR CC
set -eu
build=$1 src=$2 cc=${3:-cc}
prefix=$(mktemp -d /tmp/tq_install_XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name tailquant.pc | head -1)
[ -n "$pc" ] || { echo "no tailquant.pc under $prefix"; exit 1; }
for f in bin/tailquant include/tailquant.h share/man/man1/tailquant.1 \
         share/bash-completion/completions/tailquant share/doc/tailquant/README.md \
         share/doc/tailquant/wire-format.md share/doc/tailquant/examples/ddp_hook.py \
         share/tailquant/config/default.cfg share/tailquant/models/lenet5.cfg; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
ls "$prefix"/lib*/libtailquant.so* "$prefix"/lib/*/libtailquant.so* 2>/dev/null | grep -q . \
  || { echo "not installed: libtailquant.so"; exit 1; }
find "$prefix" -path '*dist-packages/tailquant/__init__.py' | grep -q . \
  || { echo "not installed: the Python package"; exit 1; }
"$prefix/bin/tailquant" --version
# Only the public API is exported.
if nm -D --defined-only "$(ls "$prefix"/lib*/libtailquant.so* | head -1)" | awk '{print $3}' \
     | grep -v '^tailquant_' | grep -v '^_' | grep .; then
  echo "symbols outside the tailquant_ prefix are exported"; exit 1
fi
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs tailquant)
libdir=$(pkg-config --variable=libdir tailquant)
echo "pkg-config --cflags --libs tailquant: $flags"
"$cc" -std=c11 -Wall -Wextra -Werror -o "$prefix/roundtrip" "$src/tests/install/roundtrip.c" \
  $flags -Wl,-rpath,"$libdir" -lm
"$prefix/roundtrip"
