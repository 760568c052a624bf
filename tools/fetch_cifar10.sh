#!/usr/bin/env bash
# Downloads the CIFAR-10 binary version (162 MB) from its authors' page, checks the MD5 they
# publish (https://www.cs.toronto.edu/~kriz/cifar.html: c32a1d4ab5d03f1284b67883e8d87530),
# and unpacks it to data/cifar10/cifar-10-batches-bin/ (where config/cifar10_resnet20.cfg
# looks), or to DIR:
#
#   tools/fetch_cifar10.sh [DIR]
#
# No test or CI step needs it: the tests write small CIFAR-format files themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-data/cifar10}
url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
md5=c32a1d4ab5d03f1284b67883e8d87530
mkdir -p "$dest"
tarball="$dest/cifar-10-binary.tar.gz"
if [ ! -f "$tarball" ]; then
  if command -v curl >/dev/null; then
    curl -fL --retry 3 -o "$tarball.part" "$url"
  else
    wget -O "$tarball.part" "$url"
  fi
  mv "$tarball.part" "$tarball"
fi
got=$(md5sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$md5" ]; then
  echo "tools/fetch_cifar10.sh: $tarball has MD5 $got, the published one is $md5: removed" >&2
  rm -f "$tarball"
  exit 1
fi
tar -xzf "$tarball" -C "$dest"
for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
  size=$(stat -c %s "$dest/cifar-10-batches-bin/$f")
  [ "$size" -eq 30730000 ] || { echo "tools/fetch_cifar10.sh: $f is $size bytes, not 30730000" >&2; exit 1; }
done
echo "CIFAR-10 in $dest/cifar-10-batches-bin/ (MD5 checked)"
echo "  tailquant train config/cifar10_resnet20.cfg --set data.train_images=$dest/cifar-10-batches-bin --set data.test_images=$dest/cifar-10-batches-bin"
