#!/usr/bin/env bash
# Draws the comparison plots of a folder of runs, as PNG files beside them:
#
#   tools/plot.sh RUNS_DIR [GRADIENT.f32]
#
# For every experiment/model/bits group: test accuracy against iteration and against cumulative
# uplink bits, and loss against iteration (the mean over seeds, with a min-max band where a
# method has more than one run; the legend gives each method's n, and fp32, where it ran, is on
# every accuracy plot); one plot
# of per-element quantization MSE per method and bits; and, given a raw gradient file (from
# `tailquant train --dump-gradients`), a log-log histogram of |g| with the fitted power-law
# tail, g_min and alpha. Also writes RUNS_DIR/report.md (`tailquant report`).
# Needs gnuplot (gnuplot-nox) and a built tailquant (tools/setup.sh).
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,12p' "$0"; exit 2; }
# Arguments are relative to the folder it is run from; then it works from the repository root.
abs() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
runs=$(abs "$1")
grad=${2:+$(abs "$2")}
cd "$(dirname "$0")/.."
[ -d "$runs" ] || { echo "tools/plot.sh: $runs: no such folder" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "tools/plot.sh: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
tq=build/tailquant
[ -x $tq ] || { echo "tools/plot.sh: build/tailquant is missing: run tools/setup.sh" >&2; exit 1; }
out=$runs/plots
rm -f "$out"/curves_*.csv "$out"/curves_*.tsv "$out"/mse_*.dat   # curves of runs that are gone must not linger
$tq report "$runs" --curves "$out" --out "$runs/report.md"

# The methods in the table's order (`tailquant quantize --help` lists the method table), each
# with a fixed colour so every plot reads the same way; a method without one takes the next
# colour of a spare palette.
order=$($tq quantize --help 2>&1 | awk '/^Methods/ {on = 1; next} on && NF {print $1}' | tr '\n' ' ')
[ -n "$order" ] || { echo "tools/plot.sh: $tq quantize --help listed no methods" >&2; exit 1; }
declare -A colour=([none]="#000000" [qsgd]="#1f77b4" [qsgdinf]="#17becf" [nuqsgd]="#9467bd"
                   [tqsgd]="#ff7f0e" [tnqsgd]="#d62728" [tbqsgd]="#2ca02c" [tpqsgd]="#8c564b")
spare=("#e377c2" "#7f7f7f" "#bcbd22" "#393b79" "#637939" "#843c39")
# A point type, dash pattern and width per method as well, widths falling along the table's
# order: methods with identical curves (QSGD and NUQSGD at 2 bits share their levels) stay
# visible, the earlier one as a wider line under the later.
declare -A ptype dtype lwidth
i=0 j=0
for m in $order; do
  [ -n "${colour[$m]:-}" ] || { colour[$m]=${spare[$((i % ${#spare[@]}))]}; i=$((i + 1)); }
  ptype[$m]=$((4 + 2 * (j % 6))) dtype[$m]=$((1 + j % 3))
  lwidth[$m]=$(awk -v j=$j 'BEGIN {w = 4.5 - 0.5 * j; print (w < 1.5 ? 1.5 : w)}'); j=$((j + 1))
done

# every experiment/model/bits group; fp32-only groups are drawn inside the others
# (a group: experiment_dataset_model_bBITS; the curve files are CSV with a header row)
groups=$(ls "$out" | sed -n 's/^curves_\(.*\)_[a-z]*\.csv$/\1/p' | sort -u)
compressed=$(echo "$groups" | grep -v '_b32$' || true)
[ -n "$compressed" ] && groups=$compressed
for g in $groups; do
  bands="" lines="" blines="" lbands="" llines=""
  base=${g%_b*}
  # The most runs behind any curve of the group (column 9): bands and "mean" only where n > 1.
  nmax=$(cat "$out"/curves_"${g}"_*.csv | awk -F, 'FNR > 1 && $9 + 0 > n {n = $9 + 0} END {print n + 0}')
  for m in $order; do
    f="$out/curves_${g}_$m.csv"
    # fp32 (method none, 32 bits) is every compressed group's reference curve
    [ "$m" = none ] && [ ! -f "$f" ] && f="$out/curves_${base}_b32_none.csv"
    [ -f "$f" ] || continue
    c=${colour[$m]}
    nruns=$(awk -F, 'NR > 1 && $9 + 0 > n {n = $9 + 0} END {print n + 0}' "$f")
    [ "$nruns" -gt 1 ] &&
      bands+="'$f' using 1:6:7 with filledcurves fc rgb '$c' fs transparent solid 0.15 notitle, "
    t=$m; [ "$m" = none ] && t="fp32 (no compression)"
    t="$t (n = $nruns)"
    style="lw ${lwidth[$m]} pt ${ptype[$m]} ps 0.8 dt ${dtype[$m]} lc rgb '$c'"
    lines+="'$f' using 1:5 with linespoints $style title '$t', "
    blines+="'$f' using 8:5 with linespoints $style title '$t', "
    [ "$nruns" -gt 1 ] &&
      lbands+="'$f' using 1:3:4 with filledcurves fc rgb '$c' fs transparent solid 0.15 notitle, "
    llines+="'$f' using 1:2 with lines lw 1.5 dt ${dtype[$m]} lc rgb '$c' title '$t', "
  done
  first=$(ls "$out"/curves_"${g}"_*.csv | head -1)
  # columns 10-12 of a data row: experiment, dataset, model
  IFS=, read -r _ _ _ _ _ _ _ _ _ exp dataset model _ < <(sed -n 2p "$first")
  title="$exp: $model on $dataset, ${g##*_b} bits"
  if [ "$nmax" -gt 1 ]; then how="mean over seeds, band = min-max"; else how="one seed per method"; fi
  # A group evaluated only once has no curve to draw: say so and go on with the others.
  gnuplot <<GP || echo "tools/plot.sh: $g: gnuplot could not draw it (too few evaluated points?)" >&2
set terminal pngcairo size 900,560 font 'DejaVu Sans,11' noenhanced
set datafile separator comma
set datafile columnheaders
set key bottom right
set grid
set output '$out/${g}_accuracy.png'
set title "Test accuracy: $title ($how)"
set xlabel 'iteration'
set ylabel 'test accuracy (%)'
plot ${bands}${lines%, }
set output '$out/${g}_accuracy_vs_bits.png'
set title "Test accuracy against uplink traffic: $title"
set xlabel 'cumulative uplink bits, all workers (Mbit, log scale)'
set logscale x
plot ${blines%, }
unset logscale x
set output '$out/${g}_loss.png'
set title "Training loss: $title ($how)"
set xlabel 'iteration'
set ylabel 'training loss (mean over the step''s samples)'
set key top right
plot ${lbands}${llines%, }
GP
  echo "tools/plot.sh: $out/${g}_{accuracy,accuracy_vs_bits,loss}.png"
done

# Quantization MSE per method against bits, one line per (experiment, model, method).
# mse.csv: experiment,dataset,model,method,bits,mean_quant_mse (a header row first)
if [ "$(tail -n +2 "$out/mse.csv" | grep -c . || true)" -gt 0 ]; then
  plots=""
  while read -r exp dataset model; do
    for m in ${order#none }; do   # fp32 has no quantization error
      dat="$out/mse_${exp}_${dataset}_${model}_$m.dat"
      tail -n +2 "$out/mse.csv" | awk -F, -v e="$exp" -v d="$dataset" -v mo="$model" -v me="$m" \
        '$1==e && $2==d && $3==mo && $4==me {print $5, $6}' | sort -n > "$dat"
      [ -s "$dat" ] || { rm -f "$dat"; continue; }
      plots+="'$dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '${colour[$m]}' title '$m ($exp)', "
    done
  done < <(tail -n +2 "$out/mse.csv" | awk -F, '{print $1, $2, $3}' | sort -u)
  if [ -n "$plots" ]; then
    gnuplot <<GP
set terminal pngcairo size 900,560 font 'DejaVu Sans,11'
set output '$out/quant_mse.png'
set termoption noenhanced
set title 'Quantization error during training (mean over iterations and seeds)'
set xlabel 'bits per element'
set ylabel 'per-element MSE of the averaged gradient (log scale)'
set logscale y
set format y "%.0e"
set xtics 1
set offsets 0.5, 0.5, 0, 0
set grid
set key outside right
plot ${plots%, }
GP
    echo "tools/plot.sh: $out/quant_mse.png"
  fi
fi

# One layer's |g| histogram with the fitted tail.
if [ -n "$grad" ]; then
  $tq quantize --method tnqsgd --bits 3 --hist "$out/hist.tsv" "$grad" > "$out/hist.txt"
  read -r _ gamma _ gmin _ rho _ beta _ alpha _ < <(head -1 "$out/hist.tsv" | sed 's/^# //')
  gnuplot <<GP
set terminal pngcairo size 900,560 font 'DejaVu Sans,11'
set output '$out/gradient_histogram.png'
set datafile missing '?'
set logscale xy
set format x "10^{%L}"
set format y "10^{%L}"
set grid
set key bottom left
set title sprintf("|g| of %s: power-law tail fit, gamma = %.2f", "$(basename "$grad")", $gamma)
set xlabel '|g| (log scale)'
set ylabel 'density of |g| (log scale)'
set arrow 1 from $gmin, graph 0 to $gmin, graph 1 nohead dt 2 lc rgb '#2ca02c' lw 2
set label 1 sprintf("g_{min} = %.3g", $gmin) at $gmin, graph 0.95 right offset -0.5,0 tc rgb '#2ca02c'
set arrow 2 from $alpha, graph 0 to $alpha, graph 1 nohead dt 4 lc rgb '#d62728' lw 2
set label 2 sprintf("alpha (TNQSGD, 3 bits) = %.3g", $alpha) at $alpha, graph 0.87 right offset -0.5,0 tc rgb '#d62728'
plot '$out/hist.tsv' using 3:5 with points pt 7 ps 0.8 lc rgb '#1f77b4' title 'measured (device histogram)', \
     '$out/hist.tsv' using 3:6 with lines lw 2 lc rgb '#d62728' title 'fitted power-law tail'
GP
  echo "tools/plot.sh: $out/gradient_histogram.png"
fi
echo "tools/plot.sh: table in $runs/report.md"
