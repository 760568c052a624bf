#!/usr/bin/env bash
# Installs the Debian packages tailquant needs (when missing), then configures and builds.
# Re-running it is quick and harmless: nothing is installed twice and the build is incremental.
#
#   tools/setup.sh            release build in build/
#   tools/setup.sh --asan     AddressSanitizer + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

# The build-and-run set, and oclgrind: the strict second OpenCL implementation the conformance
# tests run on (docs/testing.md). The PyTorch peer (python3-torch) is installed only by the
# benchmark script that uses it, tools/bench.sh.
packages=(
  build-essential cmake pkg-config
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo oclgrind
  libclblast-dev clblast-utils
  libconfig-dev libcunit1-dev zlib1g-dev
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist gnuplot-nox
)

build_dir=build
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
for arg in "$@"; do
  case "$arg" in
    --asan) build_dir=build-asan; cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DTQ_SANITIZE=ON) ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "tools/setup.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    echo "tools/setup.sh: installing ${missing[*]}"
    sh -c "$cmd"
  else
    echo "tools/setup.sh: these Debian packages are missing: ${missing[*]}" >&2
    echo "Install them as root, then run this script again:" >&2
    echo "  sudo sh -c '$cmd'" >&2
    exit 1
  fi
fi

# POCL needs an ICD entry; a broken driver install shows here rather than as a test failure.
if ! ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
  echo "tools/setup.sh: no OpenCL driver is registered in /etc/OpenCL/vendors/" >&2
  exit 1
fi

cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
echo "tools/setup.sh: built $build_dir/tailquant"
