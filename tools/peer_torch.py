#!/usr/bin/python3
"""PyTorch peer for tailquant's benchmarks: the same models, trained the same way, on the same
machine, so tailquant's figures have a reference.

  peer_torch.py bench --model lenet5|alexnet_small|mlp|resnet20 --batch 64 [--threads T] [--seconds S]
      images/s of forward + backward + SGD update on random data; prints one line
      `peer_images_per_s MODEL VALUE`.
  peer_torch.py step --model lenet5|alexnet_small --workers 8 --batch 32 --method none|qsgd
                     [--bits 3] [--bucket 512] [--threads T] [--steps N]
      data-parallel SGD over simulated workers in one process: each worker computes the gradient
      of its own batch at the shared parameters, quantizes every parameter tensor with QSGD (L2
      norm per bucket of 512, s = 2^(bits-1) - 1 levels, stochastic rounding, int8 codes), the
      server decodes, averages and takes one SGD step. Prints
      `peer_steps_per_s MODEL METHOD BITS VALUE quant_share VALUE`, quant_share being the
      fraction of the step spent encoding and decoding.
  peer_torch.py train --model lenet5 --epochs 1 --batch 64 --lr 0.05 [--momentum 0] [--seed 1]
      trains on Fashion-MNIST read from the IDX .gz files, normalised with the training set's
      mean/std, reshuffled every epoch; prints `peer_test_accuracy MODEL VALUE`, VALUE being the
      fraction of the 10000 test images classified correctly (0..1).

The models mirror tailquant's models/*.cfg exactly; their parameter counts are asserted.
Parameters use PyTorch's default initialisation. Loss: softmax cross-entropy, mean over the
batch. Optimiser: torch.optim.SGD(lr, momentum, weight_decay). Training keeps the last,
smaller batch of an epoch (60000 = 937 x 64 + 32).

Exit codes: 0 success; 2 bad arguments or unreadable data; 3 PyTorch (or NumPy) is not
installed, so callers can skip the peer (Debian: apt-get install python3-torch python3-numpy).
Human-readable progress goes to stderr; stdout carries only the machine-readable lines.
"""
import argparse
import gzip
import os
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError as exc:  # the peer is optional: say why and let the caller skip it
    print(f"peer_torch: PyTorch peer unavailable: {exc} "
          "(install python3-torch and python3-numpy)", file=sys.stderr)
    sys.exit(3)

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = 10

# Parameter counts of tailquant's definitions; a mismatch means the peer measures another model.
EXPECTED_PARAMS = {"lenet5": 61706, "alexnet_small": 2965386, "mlp": 235146, "resnet20": 272474}
# Per-sample input shape of each model (tailquant's models/*.cfg).
INPUT_SHAPE = {"lenet5": (1, 28, 28), "alexnet_small": (1, 28, 28), "mlp": (1, 28, 28),
               "resnet20": (3, 32, 32)}


class BasicBlock(nn.Module):
    """ResNet basic block as models/resnet20.cfg has it: conv3-bn-relu-conv3-bn, plus the input
    (or, when the block halves the map, a 1x1 stride-2 convolution and batchnorm of it), relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (x if self.short is None else self.short(x)))


def resnet20():
    layers = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for b in range(3):
            layers.append(BasicBlock(cin, cout, stride if b == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, CLASSES)]
    return layers


class InputError(Exception):
    """Bad data or arguments: reported as one line, exit code 2."""


def build_model(name):
    """The network as tailquant defines it. Input: N x 1 x 28 x 28 float32; output: N x 10 logits."""
    if name == "lenet5":
        layers = [
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),   # 6 x 14 x 14
            nn.Conv2d(6, 16, 5, padding=0), nn.ReLU(), nn.MaxPool2d(2, 2),  # 16 x 5 x 5
            nn.Flatten(),                                                   # 400
            nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, CLASSES),
        ]
    elif name == "alexnet_small":
        layers = [
            nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),     # 64 x 14 x 14
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),   # 128 x 7 x 7
            nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),  # 128 x 3 x 3
            nn.Flatten(),                                                      # 1152
            nn.Linear(1152, 1024), nn.ReLU(),
            nn.Linear(1024, 512), nn.ReLU(),
            nn.Linear(512, CLASSES),
        ]
    elif name == "resnet20":
        layers = resnet20()
    elif name == "mlp":
        layers = [
            nn.Flatten(),  # 784
            nn.Linear(784, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, CLASSES),
        ]
    else:
        raise InputError(f"unknown model {name!r} (expected one of {', '.join(EXPECTED_PARAMS)})")
    model = nn.Sequential(*layers)
    count = sum(p.numel() for p in model.parameters())
    assert count == EXPECTED_PARAMS[name], \
        f"{name}: {count} parameters, tailquant's definition has {EXPECTED_PARAMS[name]}"
    return model


def make_optimizer(model, args):
    return torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                           weight_decay=args.weight_decay)


def sgd_step(model, opt, loss_fn, x, y):
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss


def cmd_bench(args):
    torch.manual_seed(args.seed)
    model = build_model(args.model)
    model.train()
    opt = make_optimizer(model, args)
    loss_fn = nn.CrossEntropyLoss()  # softmax cross-entropy, mean over the batch
    x = torch.randn(args.batch, *INPUT_SHAPE[args.model])
    y = torch.randint(0, CLASSES, (args.batch,))
    for _ in range(args.warmup):  # first steps allocate and pick kernels: not timed
        sgd_step(model, opt, loss_fn, x, y)
    steps = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < args.seconds:
        sgd_step(model, opt, loss_fn, x, y)
        steps += 1
        elapsed = time.perf_counter() - start
    rate = steps * args.batch / elapsed
    print(f"peer_torch: {args.model} batch {args.batch}, {torch.get_num_threads()} threads: "
          f"{steps} steps in {elapsed:.2f} s", file=sys.stderr)
    print(f"peer_images_per_s {args.model} {rate:.1f}")
    return 0


def qsgd_encode(v, bits, bucket, gen):
    """QSGD of a flat tensor: per bucket the L2 norm and int8 codes in [-s, s]."""
    s = 2 ** (bits - 1) - 1
    n = v.numel()
    x = torch.nn.functional.pad(v, (0, (-n) % bucket)).view(-1, bucket)
    norm = x.norm(dim=1, keepdim=True)
    scaled = x.abs() / norm.clamp_min(1e-30) * s
    low = scaled.floor()
    up = torch.rand(scaled.shape, generator=gen) < (scaled - low)
    codes = ((low + up.float()) * x.sign()).to(torch.int8)
    return codes, norm


def qsgd_decode(codes, norm, bits, n):
    s = 2 ** (bits - 1) - 1
    return (codes.float() * (norm / s)).view(-1)[:n]


def cmd_step(args):
    torch.manual_seed(args.seed)
    model = build_model(args.model)
    model.train()
    opt = make_optimizer(model, args)
    loss_fn = nn.CrossEntropyLoss()
    params = list(model.parameters())
    gen = torch.Generator().manual_seed(args.seed)
    xs = [torch.randn(args.batch, *INPUT_SHAPE[args.model]) for _ in range(args.workers)]
    ys = [torch.randint(0, CLASSES, (args.batch,)) for _ in range(args.workers)]

    def step():
        quant = 0.0
        acc = [torch.zeros_like(p) for p in params]
        for w in range(args.workers):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xs[w]), ys[w]).backward()
            for a, p in zip(acc, params):
                g = p.grad.detach().reshape(-1)
                if args.method == "qsgd":
                    t0 = time.perf_counter()
                    codes, norm = qsgd_encode(g, args.bits, args.bucket, gen)
                    g = qsgd_decode(codes, norm, args.bits, g.numel())
                    quant += time.perf_counter() - t0
                a.add_(g.view_as(a))
        for a, p in zip(acc, params):
            p.grad = a.div_(args.workers)
        opt.step()
        return quant

    for _ in range(args.warmup):
        step()
    quant = 0.0
    start = time.perf_counter()
    for _ in range(args.steps):
        quant += step()
    elapsed = time.perf_counter() - start
    bits = args.bits if args.method == "qsgd" else 32
    print(f"peer_torch: {args.model} {args.workers} workers x {args.batch}, {args.method}, "
          f"{torch.get_num_threads()} threads: {args.steps} steps in {elapsed:.2f} s", file=sys.stderr)
    print(f"peer_steps_per_s {args.model} {args.method} {bits} {args.steps / elapsed:.3f} "
          f"quant_share {quant / elapsed:.3f}")
    return 0


def read_idx(path, want_dims):
    """An unsigned-byte IDX file (gzipped or plain) as a numpy array of shape dims, validated."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if len(raw) < 4:
        raise InputError(f"{path}: truncated header: {len(raw)} bytes")
    zero0, zero1, dtype, ndims = raw[0], raw[1], raw[2], raw[3]
    if zero0 or zero1 or dtype != 0x08 or ndims != want_dims:
        raise InputError(f"{path}: magic 0x{raw[:4].hex().upper()}, expected "
                         f"0x{0x800 | want_dims:08X} (unsigned byte, {want_dims} dimensions)")
    head = 4 + 4 * ndims
    if len(raw) < head:
        raise InputError(f"{path}: truncated header: {len(raw)} of {head} bytes")
    dims = struct.unpack(">" + "I" * ndims, raw[4:head])
    size = int(np.prod(dims, dtype=np.int64))
    if size == 0:
        raise InputError(f"{path}: a dimension is zero: {dims}")
    if len(raw) - head != size:
        raise InputError(f"{path}: header promises {size} bytes of data ({dims}) "
                         f"but the file holds {len(raw) - head}")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims)


def load_split(data_dir, split):
    images = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"), 3)
    labels = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"), 1)
    if images.shape[0] != labels.shape[0]:
        raise InputError(f"{data_dir}: {split}: {images.shape[0]} images but "
                         f"{labels.shape[0]} labels")
    if labels.max() >= CLASSES:
        raise InputError(f"{data_dir}: {split}: label {labels.max()} >= {CLASSES} classes")
    return images, labels


def normalise(images, mean, std):
    """uint8 N x H x W -> float32 N x 1 x H x W, (pixel / 255 - mean) / std."""
    x = (images.astype(np.float64) / 255.0 - mean) / std
    return torch.from_numpy(x.astype(np.float32)).unsqueeze(1)


def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return correct / x.shape[0]


def cmd_train(args):
    tr_img, tr_lab = load_split(args.data_dir, "train")
    te_img, te_lab = load_split(args.data_dir, "t10k")
    # Over all training pixels scaled to [0, 1], in double (0.2860 / 0.3530 for Fashion-MNIST).
    scaled = tr_img.astype(np.float64) / 255.0
    mean, std = float(scaled.mean()), float(scaled.std())
    del scaled
    print(f"peer_torch: train {tr_img.shape}, test {te_img.shape}, mean {mean:.4f} "
          f"std {std:.4f}", file=sys.stderr)
    x_tr, y_tr = normalise(tr_img, mean, std), torch.from_numpy(tr_lab.astype(np.int64))
    x_te, y_te = normalise(te_img, mean, std), torch.from_numpy(te_lab.astype(np.int64))

    torch.manual_seed(args.seed)
    model = build_model(args.model)
    model.train()
    opt = make_optimizer(model, args)
    loss_fn = nn.CrossEntropyLoss()
    order_rng = torch.Generator().manual_seed(args.seed)
    n = x_tr.shape[0]
    for epoch in range(args.epochs):
        start = time.perf_counter()
        perm = torch.randperm(n, generator=order_rng)  # a new order every epoch
        total, batches = 0.0, 0
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            total += sgd_step(model, opt, loss_fn, x_tr[idx], y_tr[idx]).item()
            batches += 1
        acc = accuracy(model, x_te, y_te)
        print(f"peer_torch: epoch {epoch + 1}: mean loss {total / batches:.4f}, test accuracy "
              f"{acc:.4f}, {n / (time.perf_counter() - start):.0f} images/s", file=sys.stderr)
    print(f"peer_test_accuracy {args.model} {accuracy(model, x_te, y_te):.4f}")
    return 0


def positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def non_negative(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(prog="peer_torch.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", required=True, choices=sorted(EXPECTED_PARAMS))
    common.add_argument("--batch", type=positive(int), default=64)
    common.add_argument("--threads", type=positive(int), default=None,
                        help="intra-op threads (default: PyTorch's choice)")
    common.add_argument("--lr", type=positive(float), default=0.05)
    common.add_argument("--momentum", type=non_negative, default=0.0)
    common.add_argument("--weight-decay", type=non_negative, default=0.0)
    common.add_argument("--seed", type=int, default=1)
    b = sub.add_parser("bench", parents=[common], help="images/s of training steps")
    b.add_argument("--seconds", type=positive(float), default=10.0, help="timed duration")
    b.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    st = sub.add_parser("step", parents=[common], help="steps/s of simulated workers with QSGD")
    st.add_argument("--workers", type=positive(int), default=8)
    st.add_argument("--method", choices=["none", "qsgd"], default="qsgd")
    st.add_argument("--bits", type=positive(int), default=3)
    st.add_argument("--bucket", type=positive(int), default=512)
    st.add_argument("--steps", type=positive(int), default=10, help="timed steps")
    st.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    t = sub.add_parser("train", parents=[common], help="train on Fashion-MNIST, test accuracy")
    t.add_argument("--epochs", type=positive(int), default=1)
    t.add_argument("--data-dir", default=FASHION_DIR,
                   help="folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(1)
    try:
        if args.cmd == "step" and args.method == "qsgd" and not 2 <= args.bits <= 8:
            raise InputError(f"--bits {args.bits}: QSGD with int8 codes takes 2 to 8 bits")
        return {"bench": cmd_bench, "step": cmd_step, "train": cmd_train}[args.cmd](args)
    except InputError as exc:
        print(f"peer_torch: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
