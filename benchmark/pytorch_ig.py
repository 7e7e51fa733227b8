#!/usr/bin/python3
"""Native PyTorch reference for issue 29's explanation goal: the same integrated gradients
(50 Gauss-Legendre points, [CLS] + [PAD]... + [SEP] baseline, the target's logit) on the same
weights (read from the demo model.onnx), with autograd, all 50 path points in one batch, the
threads given by the caller. Prints one line per text: tokens and the median of 5 timed runs after
2 warm-ups, for each attention form (matmul and softmax as the graph has it; PyTorch's fused
scaled_dot_product_attention). Needs torch and onnx: Debian's python3-torch and python3-onnx, or
PyPI's torch (MKL, oneDNN: the fair reference) in a virtual environment named by PYTORCH_PYTHON in
benchmark.sh; nothing in the build or the tests does.

usage: pytorch_ig.py model.onnx tokenizer.json threads text...
"""
import json
import statistics
import sys
import time
import unicodedata

import numpy
import onnx
import onnx.numpy_helper
import torch


def wordpiece(vocab, text, max_len):
    """BERT uncased tokenization: lower case, accents stripped, split on spaces and punctuation,
    greedy longest-match word pieces; [CLS] ... [SEP], truncated to max_len."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words, word = [], ""
    for c in text:
        if c.isspace():
            if word:
                words.append(word)
            word = ""
        elif unicodedata.category(c).startswith("P") or (33 <= ord(c) <= 47) or (58 <= ord(c) <= 64):
            if word:
                words.append(word)
            words.append(c)
            word = ""
        else:
            word += c
    if word:
        words.append(word)
    ids = [vocab["[CLS]"]]
    for w in words:
        start, pieces = 0, []
        while start < len(w):
            end, found = len(w), None
            while end > start:
                piece = w[start:end] if start == 0 else "##" + w[start:end]
                if piece in vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                pieces = [vocab["[UNK]"]]
                break
            pieces.append(vocab[found])
            start = end
        ids.extend(pieces)
    return ids[: max_len - 1] + [vocab["[SEP]"]]


class MiniLM(torch.nn.Module):
    """The demo classifier as its ONNX graph computes it: BERT encoder (exact GELU, LayerNorm eps
    from the graph), masked mean pooling, L2 normalisation, a linear head."""

    def __init__(self, model):
        super().__init__()
        g = model.graph
        w = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in g.initializer}
        matmuls = {n.name: n.input[1] for n in g.node if n.op_type == "MatMul" and n.input[1] in w}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.type = w["embeddings.token_type_embeddings.weight"]
        self.ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        i = 0
        while f"encoder.layer.{i}.attention.self.query.bias" in w:
            p = f"encoder.layer.{i}."
            m = f"/encoder/layer.{i}/"
            self.layers.append({
                "q": (w[matmuls[m + "attention/self/query/MatMul"]], w[p + "attention.self.query.bias"]),
                "k": (w[matmuls[m + "attention/self/key/MatMul"]], w[p + "attention.self.key.bias"]),
                "v": (w[matmuls[m + "attention/self/value/MatMul"]], w[p + "attention.self.value.bias"]),
                "o": (w[matmuls[m + "attention/output/dense/MatMul"]], w[p + "attention.output.dense.bias"]),
                "ln1": (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                "i": (w[matmuls[m + "intermediate/dense/MatMul"]], w[p + "intermediate.dense.bias"]),
                "out": (w[matmuls[m + "output/dense/MatMul"]], w[p + "output.dense.bias"]),
                "ln2": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
            })
            i += 1
        self.head = (w["classifier.weight"], w["classifier.bias"])
        self.pool_eps = float(w["pooler.epsilon"])
        self.heads = 12
        self.eps = 1e-12
        self.sdpa = False

    def norm(self, x, p):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], p[0], p[1], self.eps)

    def forward(self, embeds, mask):
        b, s, h = embeds.shape
        x = embeds + self.position[:s] + self.type[0]
        x = self.norm(x, self.ln)
        bias = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
        d = h // self.heads
        for l in self.layers:
            q = (x @ l["q"][0] + l["q"][1]).view(b, s, self.heads, d).transpose(1, 2)
            k = (x @ l["k"][0] + l["k"][1]).view(b, s, self.heads, d).transpose(1, 2)
            v = (x @ l["v"][0] + l["v"][1]).view(b, s, self.heads, d).transpose(1, 2)
            if self.sdpa:
                # PyTorch's fused attention (its flash kernel on the CPU, backward included)
                c = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            else:
                c = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5 + bias, dim=-1) @ v
            c = c.transpose(1, 2).reshape(b, s, h)
            x = self.norm(c @ l["o"][0] + l["o"][1] + x, l["ln1"])
            f = torch.nn.functional.gelu(x @ l["i"][0] + l["i"][1])
            x = self.norm(f @ l["out"][0] + l["out"][1] + x, l["ln2"])
        m = mask[:, :, None]
        pooled = (x * m).sum(1) / m.sum(1)
        pooled = pooled / (pooled.pow(2).sum(-1, keepdim=True).sqrt() + self.pool_eps)
        return pooled @ self.head[0] + self.head[1]


def integrated_gradients(model, ids, pad, steps):
    x = model.word[ids][None]
    baseline_ids = [ids[0]] + [pad] * (len(ids) - 2) + [ids[-1]]
    x0 = model.word[baseline_ids][None]
    mask = torch.ones(1, len(ids))
    with torch.no_grad():
        target = int(model(x, mask).argmax())
        ends = model(torch.cat([x, x0]), mask.expand(2, -1))[:, target]
    nodes, weights = numpy.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=torch.float32)[:, None, None]
    path = (x0 + alphas * (x - x0)).requires_grad_(True)
    logits = model(path, mask.expand(steps, -1))[:, target]
    grads, = torch.autograd.grad(logits.sum(), path)
    w = torch.tensor(weights / 2, dtype=torch.float32)[:, None, None]
    attributions = ((x - x0) * (grads * w).sum(0, keepdim=True)).sum(-1)[0]
    delta = float(attributions.sum() - (ends[0] - ends[1]))
    return attributions, delta


def main():
    model_file, tokenizer_file, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    vocab = json.load(open(tokenizer_file))["model"]["vocab"]
    model = MiniLM(onnx.load(model_file))
    for text in sys.argv[4:]:
        ids = wordpiece(vocab, text, 128)
        for sdpa in (False, True):
            model.sdpa = sdpa
            times = []
            for i in range(7):
                start = time.perf_counter()
                _, delta = integrated_gradients(model, ids, vocab["[PAD]"], 50)
                if i >= 2:
                    times.append((time.perf_counter() - start) * 1000)
            print(f"PYTORCH tokens={len(ids)} median_ms={statistics.median(times):.1f} runs={' '.join(f'{t:.1f}' for t in times)}"
                  f" delta={delta:.2e} threads={threads} attention={'sdpa' if sdpa else 'matmul-softmax'} torch={torch.__version__}")


if __name__ == "__main__":
    main()
