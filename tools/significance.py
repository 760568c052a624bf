#!/usr/bin/env python3
"""Which methods differ in final test accuracy by more than the seeds' spread.

usage: tools/significance.py RUNS_DIR [--bin build/tailquant] [--alpha 0.05]

Reads `tailquant report RUNS_DIR --format csv` (mean, sample sd and number of runs per
experiment, model, method and bits) and, within each (experiment, model, bits) group plus the
group's fp32 runs, prints every pair of methods with Welch's two-sample t statistic, its degrees
of freedom (Welch-Satterthwaite) and the two-sided p-value. A pair is called different only when
p < alpha (default 0.05); pairs with a method of fewer than 2 runs are "n/a". docs/results.md
uses this rule for every "better" it states.
"""
import argparse, csv, io, math, subprocess, sys
from itertools import combinations

def betacf(a, b, x):
    """Continued fraction of the incomplete beta function (Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
                    -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / (c if abs(c) > tiny else tiny)
            h *= d * c
        if abs(d * c - 1.0) < 1e-13:
            break
    return h

def betai(a, b, x):
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    bt = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
                  + b * math.log(1.0 - x))
    if x < (a + 1.0) / (a + b + 2.0):
        return bt * betacf(a, b, x) / a
    return 1.0 - bt * betacf(b, a, 1.0 - x) / b

def t_sf2(t, df):
    """Two-sided p-value of Student's t with df degrees of freedom."""
    return betai(df / 2.0, 0.5, df / (df + t * t))

def welch(m1, s1, n1, m2, s2, n2):
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    if v1 + v2 == 0:
        return float("inf") if m1 != m2 else 0.0, float("inf"), 0.0 if m1 != m2 else 1.0
    t = (m1 - m2) / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    return t, df, t_sf2(abs(t), df)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs")
    ap.add_argument("--bin", default="build/tailquant")
    ap.add_argument("--alpha", type=float, default=0.05)
    a = ap.parse_args()
    out = subprocess.run([a.bin, "report", a.runs, "--format", "csv"], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"significance: {a.bin} report {a.runs} failed:\n{out.stderr}")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    groups = {}
    for r in rows:
        if r["method"] == "none":
            continue
        groups.setdefault((r["experiment"], r["model"], r["bits"]), []).append(r)
    for (exp, model, bits), rs in sorted(groups.items()):
        rs += [r for r in rows if r["method"] == "none" and r["experiment"] == exp and r["model"] == model]
        print(f"{exp} / {model} / {bits} bits: final test accuracy, Welch's t-test, alpha = {a.alpha}")
        for r1, r2 in combinations(rs, 2):
            n1, n2 = int(r1["runs"]), int(r2["runs"])
            m1, m2 = float(r1["final_test_accuracy_mean"]), float(r2["final_test_accuracy_mean"])
            name = f"  {r1['method']:8s} vs {r2['method']:8s} {m1:6.2f} vs {m2:6.2f} (n = {n1}, {n2})"
            if n1 < 2 or n2 < 2:
                print(f"{name}: n/a")
                continue
            t, df, p = welch(m1, float(r1["final_test_accuracy_sd"]), n1,
                             m2, float(r2["final_test_accuracy_sd"]), n2)
            verdict = "different" if p < a.alpha else "not different"
            print(f"{name}: t = {t:+.2f}, df = {df:.1f}, p = {p:.3f}: {verdict}")

if __name__ == "__main__":
    main()
