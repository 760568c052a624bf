#!/usr/bin/env python3
"""Exact quantization MSE and bits per element of every method on dumped real gradients.

usage: tools/mse_table.py [--bin build/tailquant] [--bits 2,3,4] [--worker 0] RUN_DIR...

Each RUN_DIR is a training run made with --dump-gradients (RUN_DIR/gradients/iter_N/index.tsv).
For every weight tensor of the chosen worker at every dumped iteration and every width, it runs
`tailquant quantize FILE --method all --bits B` (the device codec, cross-checked against the C
reference by the command itself) and prints one Markdown row: the exact MSE (docs/math.md
§2.3, §15.1) and bits per element of each method. The last lines count, for every method, the
rows where it has a lower exact MSE than QSGDinf at no more bits per element.
"""
import argparse, os, subprocess, sys

def quantize(binary, path, bits):
    out = subprocess.run([binary, "quantize", path, "--method", "all", "--bits", str(bits)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"mse_table: {binary} quantize {path} --bits {bits} failed:\n{out.stderr}")
    rows, header = {}, None
    for line in out.stdout.splitlines():
        f = line.split()
        if f[:2] == ["method", "bits"]:
            header = line
            continue
        if header and len(f) >= 9 and f[8] in ("ok", "-") or (header and len(f) >= 9 and f[8] == "ok"):
            rows[f[0]] = {"bits_elem": float(f[5]), "mse": float(f[7])}
        elif header and not line.strip():
            break
    if not rows:
        sys.exit(f"mse_table: no method table in the output of quantize {path}")
    return rows

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/tailquant")
    ap.add_argument("--bits", default="2,3,4")
    ap.add_argument("--worker", type=int, default=0)
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    widths = [int(b) for b in a.bits.split(",")]
    table, methods = [], None
    for run in a.runs:
        gdir = os.path.join(run, "gradients")
        if not os.path.isdir(gdir):
            sys.exit(f"mse_table: {gdir}: no gradient dump (train with --dump-gradients)")
        for it in sorted(os.listdir(gdir)):
            idx = os.path.join(gdir, it, "index.tsv")
            with open(idx) as f:
                lines = [l.rstrip("\n").split("\t") for l in f][1:]
            for file, worker, tensor, shape, elems in lines:
                if int(worker) != a.worker or not tensor.endswith("weight") or int(elems) < 1024:
                    continue
                for b in widths:
                    r = quantize(a.bin, os.path.join(gdir, it, file), b)
                    methods = methods or [m for m in r if m != "none"]
                    table.append((os.path.basename(run.rstrip("/")), int(it.split("_")[-1]),
                                  tensor, int(elems), b, r))
    print("| model | iter | tensor | elements | b | " +
          " | ".join(f"{m} MSE (bits/elem)" for m in methods) + " |")
    print("|---|---|---|---|---|" + "---|" * len(methods))
    for model, it, tensor, n, b, r in table:
        cells = [f"{r[m]['mse']:.3e} ({r[m]['bits_elem']:.3f})" if m in r else "n/a" for m in methods]
        print(f"| {model} | {it} | {tensor} | {n} | {b} | " + " | ".join(cells) + " |")
    print()
    base = "qsgdinf"
    for m in methods:
        if m == base:
            continue
        wins = sum(1 for *_, r in table if m in r and r[m]["mse"] < r[base]["mse"]
                   and r[m]["bits_elem"] <= r[base]["bits_elem"])
        print(f"{m}: lower exact MSE than {base} at no more bits per element in {wins} of "
              f"{len(table)} rows ({100.0 * wins / max(len(table), 1):.1f} %)")

if __name__ == "__main__":
    main()
