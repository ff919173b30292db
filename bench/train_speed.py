# The PyTorch side of bench/train_speed.sh: the same model as tracker's engine (pre-norm RMSNorm
# eps 1e-5, RoPE half-split base 10000 on q and k, causal softmax attention, GELU (tanh) MLP 4x,
# no biases, tied LM head, init N(0, 0.02) with attn.wo / mlp.wproj scaled by 1/sqrt(2L)), fp32,
# eager mode, torch.set_num_threads(2), trained with the same AdamW, clipping, warm-up + cosine
# and random windows of the same shard. Prints one JSON line: tokens/s, step time, MFU, peak RSS.
import argparse, json, math, resource, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, NH, L):
        super().__init__()
        self.NH = NH
        self.norm1 = nn.RMSNorm(C, eps=1e-5)
        self.wqkv = nn.Linear(C, 3 * C, bias=False)
        self.wo = nn.Linear(C, C, bias=False)
        self.norm2 = nn.RMSNorm(C, eps=1e-5)
        self.wfc = nn.Linear(C, 4 * C, bias=False)
        self.wproj = nn.Linear(4 * C, C, bias=False)
        for lin in (self.wo, self.wproj):
            nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * L))
        for lin in (self.wqkv, self.wfc):
            nn.init.normal_(lin.weight, std=0.02)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        q, k, v = self.wqkv(self.norm1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.NH, C // self.NH).transpose(1, 2) for t in (q, k, v))  # (B, NH, T, hs)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.wo(y.transpose(1, 2).reshape(B, T, C))
        return x + self.wproj(F.gelu(self.wfc(self.norm2(x)), approximate="tanh"))


def rope(x, cos, sin):
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class GPT(nn.Module):
    def __init__(self, V, C, L, NH, T):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        nn.init.normal_(self.wte.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(C, NH, L) for _ in range(L))
        self.norm_f = nn.RMSNorm(C, eps=1e-5)
        hs = C // NH
        theta = 10000.0 ** (-2 * torch.arange(hs // 2, dtype=torch.float64) / hs)
        angles = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]  # (T, hs/2)
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx)
        for b in self.blocks:
            x = b(x, self.cos[:T], self.sin[:T])
        logits = F.linear(self.norm_f(x), self.wte.weight)  # tied head
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def flops_per_token(V, C, L, T):
    # Same count as LanguageModel.flopsPerToken: 6 N (matmul weights + head) + 6 L T C (causal attention).
    return 6 * (L * (3 * C * C + C * C + 8 * C * C) + V * C) + 6 * L * T * C


def main():
    p = argparse.ArgumentParser()
    for name, default in [("vocab", 8192), ("channels", 256), ("layers", 4), ("heads", 4), ("context", 256),
                          ("batch", 8), ("steps", 30), ("warmup_steps", 5), ("seed", 1)]:
        p.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    p.add_argument("--shard", required=True, help="llm.c-format train shard (uint16 tokens)")
    p.add_argument("--peak-flops", type=float, default=0.0)
    a = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    header = np.fromfile(a.shard, dtype=np.int32, count=256)
    dtype = np.uint16 if header[1] == 1 else np.uint32
    data = np.memmap(a.shard, dtype=dtype, mode="r", offset=1024, shape=(int(header[2]),))
    V, C, L, NH, T, B = a.vocab, a.channels, a.layers, a.heads, a.context, a.batch
    model = GPT(V, C, L, NH, T)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    rng = np.random.default_rng(a.seed)

    def lr_at(s):
        if s < 10:
            return 3e-3 * (s + 1) / 11
        r = (s - 10) / max(1, a.steps - 10)
        return 3e-4 + 0.5 * (1 + math.cos(math.pi * min(1.0, r))) * (3e-3 - 3e-4)

    times, loss = [], float("nan")
    for step in range(a.steps):
        ix = rng.integers(0, len(data) - T - 1, size=B)
        w = torch.from_numpy(np.stack([data[i:i + T + 1].astype(np.int64) for i in ix]))
        x, y = w[:, :-1], w[:, 1:]
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    steady = times[a.warmup_steps:] or times
    step_time = sum(steady) / len(steady)
    tps = B * T / step_time
    fpt = flops_per_token(V, C, L, T)
    print(json.dumps({
        "tokensPerSecond": tps, "stepSeconds": step_time, "finalLoss": float(loss),
        "mfu": fpt * tps / a.peak_flops if a.peak_flops > 0 else None,
        "peakMemoryBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
