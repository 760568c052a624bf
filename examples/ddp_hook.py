"""A PyTorch DDP communication hook that compresses every gradient bucket with a tailquant
method before it crosses the network, the way GRACE-style hooks do:

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from ddp_hook import TailquantState, tailquant_hook

    model = DDP(net)
    model.register_comm_hook(TailquantState("tnqsgd", bits=3), tailquant_hook)

Each rank encodes its bucket (a flat float32 tensor) into one tailquant wire message, the ranks
all-gather the messages (padded to the longest), and every rank decodes all of them into the
mean gradient. Every rank ends with the same averaged gradient, as with DDP's own allreduce; what
crossed the wire is the compressed messages (state.bytes_sent counts this rank's). The codec runs
on the host (libtailquant's plain-C path), so the gradient goes through CPU memory.

Needs torch, numpy and the tailquant Python package (python/ in the source tree, or
PREFIX/lib/python3/dist-packages after `cmake --install`).
"""
import numpy as np
import torch
import torch.distributed as dist

import tailquant


class TailquantState:
    """method: any of tailquant.METHODS; options: Codec options (bits, bucket, seed,
    error_feedback, min_elems, ...). min_elems defaults to 0 here: every bucket is compressed."""

    def __init__(self, method="tnqsgd", process_group=None, **options):
        options.setdefault("min_elems", 0)
        self.method = method
        self.options = options
        self.group = process_group
        self.codec = None
        self.calls = {}  # bucket index -> how many times it was reduced (the iteration)
        self.bytes_sent = 0
        self.bytes_fp32 = 0

    def _codec(self):
        if self.codec is None:
            # worker = rank: each rank has its own rounding stream, as tailquant's workers do
            rank = dist.get_rank(self.group)
            self.codec = tailquant.Codec(self.method, worker=rank, **self.options)
        return self.codec


def tailquant_hook(state, bucket):
    """The hook: DDP calls it once per bucket per backward pass; returns a future holding the
    averaged (decoded) bucket."""
    group = state.group
    world = dist.get_world_size(group)
    grad = bucket.buffer()
    index = bucket.index()
    it = state.calls.get(index, 0) + 1
    state.calls[index] = it
    codec = state._codec()
    flat = grad.detach().to(torch.float32).cpu().numpy().reshape(-1)
    msg = codec.encode(flat, tensor=index, iteration=it)
    state.bytes_sent += len(msg)
    state.bytes_fp32 += 4 * flat.size
    # Exchange: lengths first, then the messages padded to the longest.
    n = torch.tensor([len(msg)], dtype=torch.int64)
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(sizes, n, group=group)
    longest = int(max(s.item() for s in sizes))
    mine = torch.zeros(longest, dtype=torch.uint8)
    mine[: len(msg)] = torch.frombuffer(bytearray(msg), dtype=torch.uint8)
    got = [torch.zeros(longest, dtype=torch.uint8) for _ in range(world)]
    dist.all_gather(got, mine, group=group)
    mean = np.zeros(flat.size, dtype=np.float32)
    for r in range(world):
        codec.decode(got[r][: int(sizes[r].item())].numpy().tobytes(), out=mean, weight=1.0 / world)
    result = torch.from_numpy(mean).to(device=grad.device, dtype=grad.dtype).view_as(grad)
    fut = torch.futures.Future()
    fut.set_result(result)
    return fut
