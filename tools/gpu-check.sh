#!/usr/bin/env bash
# tailquant on a machine with a real GPU, which may have no package registry: run the device
# suites, the flagship and the benchmarks from a self-contained copy of the build, then print
# a short report.
#
#   tools/gpu-check.sh --bundle DIR     on the build machine: copy build/tailquant, the device
#                                       test programs, every shared library they load that is not
#                                       the C library (ICD loader, CLBlast, libconfig, zlib, CUnit,
#                                       Open MPI), the models, configs and Fashion-MNIST into DIR
#   DIR/gpu-check.sh [--device SPEC] [--out DIR] [--quick]
#                                       on the GPU machine: run everything from the bundle
#   tools/gpu-check.sh [--device SPEC]  in a checkout with build/ (no bundle): the same checks
#
# Drivers: with no /etc/OpenCL/vendors/*.icd (a container with NVIDIA's driver mounted, say),
# the script registers the vendor libraries it finds (libnvidia-opencl.so.1, AMD's
# libamdocl64.so, Intel's libigdrcl.so) in DIR/icd and points OCL_ICD_VENDORS at it.
# --device defaults to gpu. --quick skips the benchmarks. The report goes to stdout and to
# OUT/gpu-check.txt (OUT defaults to ./gpu-check-out); every command's output is in OUT/logs/.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

bundle() {
  local dest="$1" root
  root="$(cd "$here/.." && pwd)"
  [ -x "$root/build/tailquant" ] || { echo "gpu-check: build first (tools/setup.sh)" >&2; exit 1; }
  mkdir -p "$dest"/{bin,tests,lib,data}
  cp "$root/build/tailquant" "$dest/bin/"
  for t in test_cl test_layers test_compress_device test_cluster; do
    cp "$root/build/tests/$t" "$dest/tests/"
  done
  # Shared libraries: everything ldd resolves except the C library and the loader.
  for f in "$dest"/bin/* "$dest"/tests/*; do
    ldd "$f" | awk '/=> \// {print $3}'
  done | sort -u | grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$dest/lib/"; done
  cp -r "$root/models" "$root/config" "$dest/"
  mkdir -p "$dest/tests/models" && cp "$root/tests/models/"*.cfg "$dest/tests/models/"
  local fm=/usr/share/datasets/fashion-mnist
  [ -d "$fm" ] && cp "$fm"/*.gz "$dest/data/"
  # The test programs find models through the source path compiled into them.
  echo "$root" >"$dest/source_dir"
  cp "$0" "$dest/gpu-check.sh"
  echo "gpu-check: bundle of $(du -sh "$dest" | cut -f1) in $dest"
}

device=gpu
out="$PWD/gpu-check-out"
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle "${2:?--bundle needs a folder}"; exit 0 ;;
    --device) device="${2:?}"; shift ;;
    --out) out="${2:?}"; shift ;;
    --quick) quick=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

# Where the programs are: a bundle (this script beside bin/), or a checkout's build/.
if [ -x "$here/bin/tailquant" ]; then
  top="$here"; bin="$here/bin/tailquant"; tests="$here/tests"
  export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  src="$(cat "$here/source_dir")"
  if [ ! -e "$src/models/lenet5.cfg" ]; then
    # Tests read TQ_SOURCE_DIR/models and tests/models: give them that path.
    mkdir -p "$(dirname "$src")" && ln -sfn "$here" "$src" 2>/dev/null ||
      echo "gpu-check: cannot link $src to the bundle; the layer and cluster suites may fail" >&2
  fi
  data="$here/data"
else
  top="$(cd "$here/.." && pwd)"; bin="$top/build/tailquant"; tests="$top/build/tests"
  data=/usr/share/datasets/fashion-mnist
fi
mkdir -p "$out/logs"

# The vendor's ICD when the driver ships none.
if ! ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1 && [ -z "${OCL_ICD_VENDORS:-}" ]; then
  mkdir -p "$out/icd"
  for name in libnvidia-opencl.so.1 libamdocl64.so libigdrcl.so; do
    path="$(ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n {print $NF; exit}')"
    for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/lib/wsl/lib; do
      [ -z "$path" ] && [ -e "$d/$name" ] && path="$d/$name"
    done
    [ -n "$path" ] && echo "$path" >"$out/icd/${name%%.so*}.icd" && echo "gpu-check: registered $path"
  done
  export OCL_ICD_VENDORS="$out/icd"
fi

report="$out/gpu-check.txt"
: >"$report"
say() { echo "$*" | tee -a "$report"; }
pass=0; fail=0
step() { # name, command...
  local name="$1"; shift
  local t0=$SECONDS
  if "$@" >"$out/logs/$name.log" 2>&1; then
    pass=$((pass + 1)); say "  ok    $name ($((SECONDS - t0)) s)"
  else
    fail=$((fail + 1)); say "  FAIL  $name ($((SECONDS - t0)) s): see $out/logs/$name.log"
    tail -5 "$out/logs/$name.log" | sed 's/^/        /' | tee -a "$report"
  fi
}

say "tailquant gpu-check, $(date -u +%Y-%m-%dT%H:%M:%SZ), device '$device'"
"$bin" devices 2>&1 | tee "$out/logs/devices.log" | sed 's/^/  /' | tee -a "$report"
"$bin" devices 2>/dev/null | awk 'NR > 1 && $1 ~ /:/' | grep -q . ||
  { say "gpu-check: no OpenCL device found"; exit 1; }

say "device suites (TQ_TEST_DEVICE=$device):"
for t in test_cl test_layers test_compress_device test_cluster; do
  step "$t" env TQ_TEST=1 TQ_TEST_DEVICE="$device" "$tests/$t"
done

say "flagship (config/default.cfg on $device):"
flag=(train "$top/config/default.cfg" --device "$device" --force
      --set output.dir="$out/runs" --set experiment.name=gpu_check
      --set data.train_images="$data/train-images-idx3-ubyte.gz"
      --set data.train_labels="$data/train-labels-idx1-ubyte.gz"
      --set data.test_images="$data/t10k-images-idx3-ubyte.gz"
      --set data.test_labels="$data/t10k-labels-idx1-ubyte.gz")
step flagship "$bin" "${flag[@]}"
grep -ho '"final_test_accuracy": [0-9.]*\|"seconds": [0-9.]*' "$out/runs/gpu_check/summary.json" 2>/dev/null |
  sed 's/^/        /' | tee -a "$report"

if [ "$quick" = 0 ]; then
  say "benchmarks:"
  for m in lenet5 alexnet_small; do
    step "bench_train_$m" "$bin" bench train --model "$top/models/$m.cfg" --device "$device"
    grep '^bench_train' "$out/logs/bench_train_$m.log" | sed 's/^/        /' | tee -a "$report"
    step "bench_step_$m" "$bin" bench step --model "$top/models/$m.cfg" --device "$device"
    grep '^bench_step' "$out/logs/bench_step_$m.log" | sed 's/^/        /' | tee -a "$report"
  done
  step bench_quant "$bin" bench quant --device "$device"
  grep -E 'copy|tnqsgd|qsgd ' "$out/logs/bench_quant.log" | head -12 | sed 's/^/        /' |
    tee -a "$report"
fi
say "gpu-check: $pass passed, $fail failed; report in $report"
[ "$fail" = 0 ]
