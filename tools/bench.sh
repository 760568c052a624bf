#!/usr/bin/env bash
# tailquant against the PyTorch peer, measured in one run on this machine:
#   images/s (forward + backward + update, batch 64, one worker) for LeNet-5, AlexNet-small and
#   ResNet-20 (CIFAR-10 shapes);
#   steps/s with 8 workers x batch 32 under none, qsgd and tnqsgd at 3 bits (the peer runs QSGD
#   for both quantizers: it has no TNQSGD), with the share of the step spent compressing;
#   warm start: process start to the end of the first training step (cached kernels, tuning).
#
#   tools/bench.sh [--seconds S] [--steps N] [--device SPEC] [--no-peer] [--no-steps]
#   TQ_BIN=build-x/tailquant tools/bench.sh    measures that build instead of building build/
#
# The peer is Debian's python3-torch under /usr/bin/python3; when it is missing and we are root
# it is installed, otherwise the peer column says why it is absent. The machine is shared and
# timings swing, so compare the ratio, measured back to back.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=10
steps=10
device=auto
peer=1
do_steps=1
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --no-peer) peer=0; shift ;;
    --no-steps) do_steps=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "tools/bench.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done

# TQ_BIN=path/to/tailquant measures that binary as it is; otherwise setup.sh (re)builds build/.
if [ -n "${TQ_BIN:-}" ]; then
  tq=$TQ_BIN
else
  tools/setup.sh >/dev/null || exit 1
  tq=build/tailquant
fi

if ((peer)) && ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "tools/bench.sh: installing the PyTorch peer (python3-torch)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-torch python3-numpy >/dev/null 2>&1
  fi
fi

threads=$(nproc)
printf "%-15s %14s %14s %8s\n" model tailquant_img/s pytorch_img/s ratio
# resnet20: the CIFAR ResNet-20 (3 x 32 x 32 input, batchnorm, residual adds), the same net in
# tools/peer_torch.py (272,474 parameters, checked there).
for model in lenet5 alexnet_small resnet20; do
  ours=$("$tq" bench train --model "models/$model.cfg" --batch 64 --seconds "$seconds" \
           --device "$device" | awk '/^bench_train/ {print $4}')
  theirs="absent"
  if ((peer)); then
    # PyTorch runs LeNet-5 fastest on one thread (ops too small to split), AlexNet on all.
    t=$threads; [ "$model" = lenet5 ] && t=1
    out=$(/usr/bin/python3 tools/peer_torch.py bench --model "$model" --batch 64 --threads "$t" \
            --seconds "$seconds" 2>/dev/null)
    case $? in
      0) theirs=$(echo "$out" | awk '/^peer_images_per_s/ {print $3}') ;;
      3) theirs="no-torch" ;;
      *) theirs="failed" ;;
    esac
  fi
  ratio="-"
  if [[ $ours =~ ^[0-9.]+$ && $theirs =~ ^[0-9.]+$ ]]; then
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.3f", a / b}')
  fi
  printf "%-15s %14s %14s %8s\n" "$model" "${ours:-failed}" "$theirs" "$ratio"
done

ratio_of() {
  if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]]; then
    awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.3f", a / b; else print "-"}'
  else
    echo "-"
  fi
}

if ((do_steps)); then
  echo
  # compress: the share of a step's wall time inside the workers' encode and the server's decode
  # phases (it includes waits behind the other workers' kernels on a shared device); vs_none:
  # tailquant's steps/s under the method over its steps/s under none in this run, so
  # 1 - vs_none is what compressing costs the step (noise: a few percent).
  printf "%-15s %-7s %14s %10s %8s %14s %10s %8s\n" model method tailquant_st/s compress vs_none pytorch_st/s quantize ratio
  for model in lenet5 alexnet_small; do
    # AlexNet-small steps take seconds each: fewer of them.
    n=$steps; [ "$model" = alexnet_small ] && n=$(( (steps + 2) / 3 ))
    t=$threads; [ "$model" = lenet5 ] && t=1
    peer_none="absent"; peer_none_q="-"; peer_q="absent"; peer_q_share="-"; sps_none="-"
    if ((peer)); then
      for m in none qsgd; do
        out=$(/usr/bin/python3 tools/peer_torch.py step --model "$model" --workers 8 --batch 32 \
                --method $m --bits 3 --threads "$t" --steps "$n" 2>/dev/null)
        case $? in
          0) v=$(echo "$out" | awk '/^peer_steps_per_s/ {print $5}')
             q=$(echo "$out" | awk '/^peer_steps_per_s/ {print $7}') ;;
          3) v="no-torch"; q="-" ;;
          *) v="failed"; q="-" ;;
        esac
        if [ $m = none ]; then peer_none=$v; peer_none_q=$q; else peer_q=$v; peer_q_share=$q; fi
      done
    fi
    for method in none qsgd tnqsgd; do
      out=$("$tq" bench step --model "models/$model.cfg" --workers 8 --batch 32 --method "$method" \
              --bits 3 --steps "$n" --device "$device" 2>/dev/null)
      sps=$(echo "$out" | awk '/^bench_step/ {for (i = 1; i < NF; i++) if ($i == "steps_per_s") print $(i + 1)}')
      share=$(echo "$out" | awk '/^bench_step/ {for (i = 1; i < NF; i++) if ($i == "compress_share") print $(i + 1)}')
      if [ "$method" = none ]; then theirs=$peer_none; tq_share="-"; their_share=$peer_none_q; sps_none=$sps
      else theirs=$peer_q; tq_share=${share:--}; their_share=$peer_q_share; fi
      printf "%-15s %-7s %14s %10s %8s %14s %10s %8s\n" "$model" "$method" "${sps:-failed}" "$tq_share" \
        "$(ratio_of "$sps" "$sps_none")" "$theirs" "$their_share" "$(ratio_of "$sps" "$theirs")"
    done
  done
fi

# Warm start: the whole process, from exec to the end of the first step (startup_s), with the
# kernels already in POCL's cache (the runs above put them there) and the tuning cache loaded.
echo
start=$(date +%s.%N)
out=$("$tq" bench train --model models/lenet5.cfg --batch 64 --seconds 0.1 --device "$device" 2>/dev/null)
end=$(date +%s.%N)
first=$(echo "$out" | awk '/^bench_train/ {for (i = 1; i < NF; i++) if ($i == "startup_s") print $(i + 1)}')
printf "warm start (lenet5): first step done %s s after start; whole process %.3f s\n" \
  "${first:-failed}" "$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')"
