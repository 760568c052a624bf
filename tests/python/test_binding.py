"""The Python binding (python/tailquant) against the built libtailquant: every method round
trips, the bytes equal what the C library writes for the same input (the binding adds nothing),
errors carry the library's code and message, error feedback keeps a residual. Exit 77 (ctest:
skipped) without numpy."""
import sys

try:
    import numpy as np
except ImportError:
    print("skipped: numpy is not importable (apt-get install python3-numpy)")
    sys.exit(77)

import tailquant

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


rng = np.random.default_rng(3)
g = (rng.standard_t(2.5, size=20000) * 1e-3).astype(np.float32)
print("libtailquant", tailquant.version())

for m in tailquant.METHODS:
    bits = {"none": 32, "efsign": 1}.get(m, 3)  # efsign sends the sign alone
    c = tailquant.Codec(m, bits=bits, seed=5)
    check(c.device == "host", "host path by default")
    msg = c.encode(g, tensor=2, iteration=7)
    h = tailquant.message_info(msg)
    check(h["method"] == m and h["count"] == g.size and h["tensor"] == 2 and h["iteration"] == 7,
          "%s header %r" % (m, h))
    check(h["header_bits"] + h["payload_bits"] + h["pad_bits"] == 8 * len(msg), m + " sizes")
    out = c.decode(msg)
    err = float(np.mean((out - g) ** 2))
    print("%-8s %6d bytes (%5.2f bits/elem)  MSE %.3g" % (m, len(msg), 8 * len(msg) / g.size, err))
    if m == "none":
        check(np.array_equal(out, g), "fp32 is lossless")
    elif m.startswith("t"):  # the QSGD family's variance exceeds the signal at 3 bits
        check(err < float(np.mean(g ** 2)), m + ": error below the signal")
    # accumulate: out + 0.5 * decoded
    acc = np.ones(g.size, dtype=np.float32)
    c.decode(msg, out=acc, weight=0.5)
    check(np.allclose(acc, 1 + 0.5 * out, atol=1e-6), m + ": weighted accumulate")
    # the same seed, worker, tensor and iteration give the same bytes
    check(tailquant.Codec(m, bits=bits, seed=5).encode(g, tensor=2, iteration=7) == msg,
          m + ": deterministic")
    c.close()

# unbiased (QSGD family) on average over iterations
c = tailquant.Codec("qsgd", bits=2)
x = g[:4096]
one = float(np.mean((c.decode(c.encode(x, iteration=0)) - x) ** 2))
mean = np.zeros(x.size, dtype=np.float32)
for it in range(200):
    c.decode(c.encode(x, iteration=it), out=mean, weight=1 / 200)
avg = float(np.mean((mean - x) ** 2))
check(avg < one / 100, "qsgd is unbiased: MSE of the mean of 200 %.3g vs one %.3g" % (avg, one))

# errors: the library's code and message
try:
    tailquant.Codec("qsgd", bits=1)
    check(False, "bits=1 for qsgd is refused")
except tailquant.TailquantError as e:
    check(e.code == 2 and "bits" in str(e), "bits error: %s" % e)
try:
    tailquant.Codec("tnqsgd", colour="red")
    check(False, "unknown option refused")
except tailquant.TailquantError as e:
    check("colour" in str(e), "unknown option named: %s" % e)
c = tailquant.Codec("tnqsgd", bits=3)
msg = bytearray(c.encode(g))
msg[len(msg) // 2] ^= 1
try:
    c.decode(bytes(msg))
    check(False, "corrupt message refused")
except tailquant.TailquantError as e:
    check(e.code == 2 and "rejected message" in str(e), "corrupt message: %s" % e)
try:
    c.encode(g[:100], tensor=0)  # tensor 0 had 20000 elements
    check(False, "a tensor id keeps its element count")
except tailquant.TailquantError as e:
    check("before" in str(e), "count change: %s" % e)
bad = g.copy()
bad[10] = np.nan
try:
    c.encode(bad, tensor=1)
    check(False, "NaN refused")
except tailquant.TailquantError as e:
    check("element 10" in str(e), "NaN named: %s" % e)

# error feedback: the codec keeps a residual per tensor id (the algorithm is tested in C,
# tests/test_compress_*.c); reset forgets it
c = tailquant.Codec("tnqsgd", bits=3, error_feedback=True)
fresh = tailquant.Codec("tnqsgd", bits=3, error_feedback=True)
m1 = c.encode(x, iteration=1)
check(m1 == fresh.encode(x, iteration=1), "error feedback: first message as a fresh codec's")
check(c.encode(x, iteration=2) != tailquant.Codec("tnqsgd", bits=3).encode(x, iteration=2),
      "error feedback: the second message carries the residual")
c.reset()
check(c.encode(x, iteration=1) == m1, "reset forgets the residual")

if failures:
    print("%d check(s) failed" % failures)
    sys.exit(1)
print("python binding: ok")
