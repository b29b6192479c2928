"""The autoscale-lm proxy GPT and its training step in PyTorch eager mode: the peer of the native
CPU trainer in bench/cpu/side_by_side.py.

Same model as native/model.cpp: token + learned position embeddings, pre-LayerNorm blocks with
causal multi-head attention and a 4x tanh-GELU MLP, final LayerNorm, LM head tied to the token
embedding; the same step: forward, mean cross-entropy, backward, global-norm clipping at 1.0,
AdamW (betas 0.9/0.95, eps 1e-8, weight decay 0.1 on the matrices). PyTorch 1.13 has no fused
scaled_dot_product_attention, so attention is the usual masked softmax(QK^T)V (as in nanoGPT's
fallback path). Run with Debian's /usr/bin/python3 (python3-torch).
"""
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # name: (vocab, context, width, layers, heads, batch) -- lib/bench.ts BENCH_PRESETS
    "cpu-a": (256, 256, 128, 4, 4, 16),
    "cpu-b": (256, 256, 256, 6, 8, 16),
    "cpu-c": (4096, 256, 384, 6, 6, 8),
    "gpt2-124m": (50257, 1024, 768, 12, 12, 4),
    "demo": (256, 64, 64, 2, 4, 16),
}


class Block(nn.Module):
    def __init__(self, width, heads, context):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.attproj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width)
        self.fcproj = nn.Linear(4 * width, width)
        mask = torch.tril(torch.ones(context, context, dtype=torch.bool))
        self.register_buffer("mask", mask.view(1, 1, context, context), persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.heads
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.heads, hs).transpose(1, 2)
        k = k.view(B, T, self.heads, hs).transpose(1, 2)
        v = v.view(B, T, self.heads, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(~self.mask[:, :, :T, :T], float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        x = x + self.attproj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, context, width, layers, heads):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads, context) for _ in range(layers))
        self.lnf = nn.LayerNorm(width)
        for name, p in self.named_parameters():  # GPT-2 initialisation, as native/model.cpp
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for block in self.blocks:
            x = block(x)
        logits = self.lnf(x) @ self.wte.weight.t()  # tied LM head
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


class Trainer:
    """One preset's model, optimizer and a fixed batch; train_step / eval_loss time one call each."""

    def __init__(self, preset, seed=1):
        vocab, context, width, layers, heads, batch = PRESETS[preset]
        torch.manual_seed(seed)
        self.tokens_per_step = batch * context
        self.model = GPT(vocab, context, width, layers, heads)
        decay = [p for p in self.model.parameters() if p.dim() == 2]
        no_decay = [p for p in self.model.parameters() if p.dim() != 2]
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
            lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
        windows = torch.randint(0, vocab, (batch, context + 1))
        self.inputs, self.targets = windows[:, :-1].contiguous(), windows[:, 1:].contiguous()

    def train_step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.model(self.inputs, self.targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        return loss.item()

    def eval_loss(self):
        with torch.no_grad():
            return self.model(self.inputs, self.targets).item()

    def time(self, fn, cpu_time=False):
        """Seconds of one call: wall clock, or with cpu_time the process's CPU seconds (all threads:
        the time the call ran, for 1 thread steady on a machine others load)."""
        clock = time.process_time if cpu_time else time.perf_counter
        t0 = clock()
        fn()
        return clock() - t0
