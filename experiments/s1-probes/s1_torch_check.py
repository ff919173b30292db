"""Independent PyTorch cross-check of the S1 plateau (shared/spec/attention.md §2.3, S1).

A 2-layer pre-norm (RMSNorm) transformer with RoPE, D = 64, 4 heads, MLP 4x with GELU, tied
embeddings, init N(0, 0.02) with the output projections scaled by 1/sqrt(2L), AdamW (0.9, 0.95),
weight decay 0.01, warm-up 50 then cosine to 10%, grad clip 1.0, batch 32: the spec's S1 model,
written separately from tracker's engine. It trains on MQRAR-tiny episodes (8 keys, 16 values,
SET 0.6 / GET 0.4) and prints step, training loss and GET accuracy on 500 fixed episodes.

    python3 s1_torch_check.py T STEPS LR [full]

`full` trains on every next token instead of the v* answers only (a diagnostic: the spec's loss is
on v* only). Measured 2026-12-06 (README "The S1 budget"): at T = 16 and lr 1e-3 both losses sit
at 39-43% after 2,000 steps, what "predict the last value in the context" scores (44.9%), as
tracker's runs do. Not a runtime dependency: torch is only needed to run this check.
"""
import math
import random
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
T = int(sys.argv[1]) if len(sys.argv) > 1 else 16
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
LR = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-3
FULL = len(sys.argv) > 4 and sys.argv[4] == "full"
D, H, L, KEYS, VALS, B = 64, 4, 2, 8, 16, 32
V = 2 + KEYS + VALS  # BOS, ?, keys, values


def episode(rng):
    """Inputs and targets (-1: no loss); the target of a GET's v* sits at its key's position."""
    x, y, mem, set_keys = [0], [-1], {}, []
    while len(x) < T:
        if len(set_keys) < 2 or rng.random() < 0.6:
            k, v = rng.randrange(KEYS), rng.randrange(VALS)
            if k not in mem:
                set_keys.append(k)
            mem[k] = v
            x += [2 + k, 2 + KEYS + v]
            y += [-1, -1]
        else:
            k = rng.choice(set_keys)
            a = 2 + KEYS + mem[k]
            x += [1, 2 + k, a]
            y += [-1, a, -1]
    y = y[:T]
    if y[-1] >= 0:  # a GET cut before its answer
        y[-1] = -1
    return x[:T], y


def batch(rng, n):
    xs, ys = zip(*[episode(rng) for _ in range(n)])
    return torch.tensor(xs), torch.tensor(ys)


class Rope:
    def __init__(self, head_dim, length):
        inv = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        f = torch.outer(torch.arange(length).float(), inv)
        self.cos, self.sin = f.cos(), f.sin()

    def __call__(self, x):
        x1, x2 = x[..., ::2], x[..., 1::2]
        c, s = self.cos[: x.shape[-2]], self.sin[: x.shape[-2]]
        return torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], -1).flatten(-2)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(D), nn.RMSNorm(D)
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.o = nn.Linear(D, D, bias=False)
        self.f1 = nn.Linear(D, 4 * D, bias=False)
        self.f2 = nn.Linear(4 * D, D, bias=False)

    def forward(self, x, rope):
        b, t, _ = x.shape
        q, k, v = self.qkv(self.n1(x)).view(b, t, 3, H, D // H).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, D))
        return x + self.f2(F.gelu(self.f1(self.n2(x))))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.blocks = nn.ModuleList([Block() for _ in range(L)])
        self.norm = nn.RMSNorm(D)
        self.rope = Rope(D // H, 1024)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                scaled = name.endswith(("o.weight", "f2.weight"))
                nn.init.normal_(p, 0, 0.02 / (math.sqrt(2 * L) if scaled else 1))

    def forward(self, x):
        h = self.embed(x)
        for block in self.blocks:
            h = block(h, self.rope)
        return self.norm(h) @ self.embed.weight.T


rng = random.Random(1)
torch.manual_seed(1)
model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.01)
eval_x, eval_y = batch(random.Random(99), 500)
for step in range(1, STEPS + 1):
    lr = LR * min(1, step / 50) * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1, step / STEPS))))
    for group in opt.param_groups:
        group["lr"] = lr
    x, y = batch(rng, B)
    if FULL:
        y = torch.cat([x[:, 1:], torch.full((B, 1), -1)], 1)
    loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), ignore_index=-1)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if step % 250 == 0:
        with torch.no_grad():
            pred = model(eval_x).argmax(-1)
            mask = eval_y >= 0
            acc = (pred[mask] == eval_y[mask]).float().mean().item()
        print(step, round(loss.item(), 3), round(acc, 3), flush=True)
