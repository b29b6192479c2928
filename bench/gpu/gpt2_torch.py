"""The same GPT-2 proxy model and training step as autoscale-lm's native trainer, in PyTorch:
token + learned position embeddings, pre-LayerNorm blocks (causal multi-head attention, 4x GELU
(tanh) MLP), final LayerNorm, LM head tied to the token embedding; AdamW (betas 0.9/0.95, eps
1e-8, weight decay 0.1 on matrices only) after global-norm clipping at 1.0.

Precision: bf16 = autocast to bfloat16 with fp32 master weights; tf32 = fp32 with TF32 matmuls;
fp32 = fp32 without TF32. Mode: eager or torch.compile.

    python3 bench/gpu/gpt2_torch.py --preset gpt2-124m --precision bf16 --mode compile
prints one JSON object: {"impl", "preset", "precision", "batch", "tokens_per_s", "ms_per_step", ...}
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from presets import PRESETS


class Block(nn.Module):
    def __init__(self, d, heads, layers):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.qkv = nn.Linear(d, 3 * d)
        self.attproj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.fc = nn.Linear(d, 4 * d)
        self.fcproj = nn.Linear(4 * d, d)
        for lin in (self.qkv, self.attproj, self.fc, self.fcproj):
            nn.init.zeros_(lin.bias)
        nn.init.normal_(self.qkv.weight, std=0.02)
        nn.init.normal_(self.fc.weight, std=0.02)
        nn.init.normal_(self.attproj.weight, std=0.02 / math.sqrt(2 * layers))
        nn.init.normal_(self.fcproj.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attproj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, V, T, d, L, heads):
        super().__init__()
        self.wte = nn.Embedding(V, d)
        self.wpe = nn.Embedding(T, d)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(d, heads, L) for _ in range(L))
        self.lnf = nn.LayerNorm(d, eps=1e-5)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.lnf(x) @ self.wte.weight.t()  # tied LM head
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))


def make_optimizer(model, lr):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="gpt2-124m", choices=sorted(PRESETS))
    ap.add_argument("--precision", default="bf16", choices=["bf16", "tf32", "fp32"])
    ap.add_argument("--mode", default="eager", choices=["eager", "compile"])
    ap.add_argument("--batch", type=int, default=0, help="windows per step (default: the preset's GPU batch)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()

    V, T, d, L, heads, batch = PRESETS[args.preset]
    B = args.batch or batch
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
    dev = torch.device("cuda")
    model = GPT(V, T, d, L, heads).to(dev)
    opt = make_optimizer(model, 3e-4)
    step_model = torch.compile(model) if args.mode == "compile" else model
    tokens = torch.randint(0, V, (B, T + 1), device=dev)
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = step_model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    print(json.dumps({
        "impl": f"torch-{args.mode}",
        "preset": args.preset,
        "precision": args.precision,
        "batch": B,
        "context": T,
        "steps": args.steps,
        "ms_per_step": 1e3 * elapsed / args.steps,
        "tokens_per_s": B * T * args.steps / elapsed,
        "warmup_s": warmup_s,
        "loss": float(loss),
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
