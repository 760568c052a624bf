#!/usr/bin/env bash
# tailquant against the PyTorch peer, measured in one run on this machine:
#   images/s (forward + backward + update, batch 64, one worker) for LeNet-5 and AlexNet-small.
#
#   tools/bench.sh [--seconds S] [--device SPEC] [--no-peer]
#
# The peer is Debian's python3-torch under /usr/bin/python3; when it is missing and we are root
# it is installed, otherwise the peer column says why it is absent. The machine is shared and
# timings swing, so compare the ratio, measured back to back.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=10
device=auto
peer=1
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --no-peer) peer=0; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "tools/bench.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done

tools/setup.sh >/dev/null || exit 1

if ((peer)) && ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "tools/bench.sh: installing the PyTorch peer (python3-torch)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-torch python3-numpy >/dev/null 2>&1
  fi
fi

threads=$(nproc)
printf "%-15s %14s %14s %8s\n" model tailquant_img/s pytorch_img/s ratio
for model in lenet5 alexnet_small; do
  ours=$(build/tailquant bench train --model "models/$model.cfg" --batch 64 --seconds "$seconds" \
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
