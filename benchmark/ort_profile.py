#!/usr/bin/env python3
"""Sums an ONNX Runtime profile (the JSON a session writes with -Digate.onnx.profile=<folder>):
kernel time per operator, split by the first input's second dimension (the sequence length, or
the heads of attention tensors), and the MatMul kernels' arithmetic rate (GFLOP/s per kernel,
2 x output elements x inner dimension over the kernel's own time). Standard library only."""
import collections
import json
import math
import sys

events = json.load(open(sys.argv[1]))
# an If's time is its branch's nodes' time, which the profile lists too
nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["args"]["op_name"] != "If"]
runs = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"]
by_dim = collections.defaultdict(collections.Counter)
matmul = collections.defaultdict(lambda: [0, 0])
for e in nodes:
    op = e["args"]["op_name"]
    ins = [list(d.values())[0] for d in e["args"].get("input_type_shape", [])]
    outs = [list(d.values())[0] for d in e["args"].get("output_type_shape", [])]
    dim = ins[0][1] if ins and len(ins[0]) > 1 else 0
    by_dim[dim][op] += e["dur"]
    if op in ("MatMul", "FusedMatMul") and ins and outs:
        # the profile does not record transA: A's last two dimensions are M x K either way
        inner = math.prod(ins[0][-2:]) // outs[0][-2]
        matmul[(dim, op)][0] += e["dur"]
        matmul[(dim, op)][1] += 2 * math.prod(outs[0]) * inner
total = sum(sum(c.values()) for c in by_dim.values())
print(f"{len(runs)} runs, {sum(r['dur'] for r in runs) / 1000:.0f} ms of runs, {total / 1000:.0f} ms of kernels")
for dim, ops in sorted(by_dim.items()):
    t = sum(ops.values())
    if t < total / 200:
        continue
    shares = " ".join(f"{op} {100 * d / t:.1f}%" for op, d in ops.most_common(10))
    print(f"dim {dim}: {t / 1000:.0f} ms ({100 * t / total:.1f}% of all): {shares}")
for (dim, op), (us, flops) in sorted(matmul.items()):
    if us > total / 200:
        print(f"{op} dim {dim}: {us / 1000:.0f} ms, {flops / 1e9:.0f} GFLOP, {flops / us / 1e3:.1f} GFLOP/s per kernel")
