"""Training and evaluation throughput of autoscale-lm's native CPU trainer and of PyTorch eager on
the same presets, same thread count, interleaved in one run (the machine's load drifts: each round
measures ours, then PyTorch, and the table reports the median over rounds of each round's median).

    /usr/bin/python3 bench/cpu/side_by_side.py --threads 2 --presets cpu-a,cpu-b,cpu-c --rounds 5

Ours runs as `node --import tsx lib/cli.ts bench train --model P --backend cpu --threads N --json`
(set AUTOSCALE_ADDON to test another build of the addon); PyTorch is bench/cpu/torch_gpt.py in this
process with torch.set_num_threads(N). Prints a Markdown table, and JSON with --json FILE.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt import PRESETS, Trainer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def flops_per_token(preset):
    V, T, d, L, _, _ = PRESETS[preset]
    return 6 * (12 * L * d * d) + 6 * V * d + 6 * L * T * d


def ours(preset, threads, warmup, repeats, cpu_time=False):
    cmd = ["node", "--import", "tsx", "lib/cli.ts", "bench", "train", "--model", preset, "--backend", "cpu",
           "--threads", str(threads), "--warmup", str(warmup), "--repeats", str(repeats), "--json"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    if cpu_time:
        return r["trainTokensPerCpuSecond"], r["evalTokensPerCpuSecond"]
    return r["trainTokensPerSecond"], r["evalTokensPerSecond"]


def theirs(trainer, warmup, repeats, cpu_time=False):
    for _ in range(warmup):
        trainer.train_step()
        trainer.eval_loss()
    train = statistics.median(trainer.time(trainer.train_step, cpu_time) for _ in range(repeats))
    ev = statistics.median(trainer.time(trainer.eval_loss, cpu_time) for _ in range(repeats))
    return trainer.tokens_per_step / train, trainer.tokens_per_step / ev


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="cpu-a,cpu-b,cpu-c")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (ours, then PyTorch)")
    ap.add_argument("--repeats", type=int, default=3, help="timed steps per round and side")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--peak", type=float, default=0.0, help="FMA peak GFLOP/s for the %% of peak columns")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--cpu-time", action="store_true",
                    help="tokens per CPU-second (process CPU time) on both sides instead of per wall-clock second: "
                         "steady on a loaded machine, meaningful with --threads 1")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # Denormal floats slow PyTorch's CPU kernels down about 2x; ours run with FTZ/DAZ set in every
    # compute thread (native/cpu/backend.cpp), so flush them here too for a like-for-like comparison.
    torch.set_flush_denormal(True)
    results = []
    for preset in args.presets.split(","):
        trainer = Trainer(preset)
        rounds = []
        for r in range(args.rounds):
            o = ours(preset, args.threads, args.warmup, args.repeats, args.cpu_time)
            t = theirs(trainer, args.warmup if r == 0 else 0, args.repeats, args.cpu_time)
            rounds.append({"ours": o, "torch": t})
            print(f"# {preset} round {r + 1}: ours train {o[0]:.0f} eval {o[1]:.0f} | "
                  f"torch train {t[0]:.0f} eval {t[1]:.0f} tokens/s", file=sys.stderr, flush=True)
        med = lambda side, i: statistics.median(x[side][i] for x in rounds)  # noqa: E731
        fpt = flops_per_token(preset)
        results.append({
            "preset": preset, "threads": args.threads, "rounds": rounds, "flopsPerToken": fpt,
            "oursTrain": med("ours", 0), "oursEval": med("ours", 1),
            "torchTrain": med("torch", 0), "torchEval": med("torch", 1),
        })
        del trainer
    unit = "CPU-second" if args.cpu_time else "wall-clock second"
    print(f"\nthreads {args.threads}, median of {args.rounds} interleaved rounds x {args.repeats} steps, tokens per {unit}; "
          f"torch {torch.__version__}\n")
    print("| preset | ours train tok/s | PyTorch train tok/s | ratio | ours eval tok/s | PyTorch eval tok/s | ratio "
          "| ours train GFLOP/s | PyTorch train GFLOP/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        g = lambda x: f"{x * r['flopsPerToken'] / 1e9:.1f}" + (  # noqa: E731
            f" ({100 * x * r['flopsPerToken'] / 1e9 / args.peak:.0f}%)" if args.peak else "")
        print(f"| {r['preset']} | {r['oursTrain']:,.0f} | {r['torchTrain']:,.0f} | {r['oursTrain'] / r['torchTrain']:.2f}x "
              f"| {r['oursEval']:,.0f} | {r['torchEval']:,.0f} | {r['oursEval'] / r['torchEval']:.2f}x "
              f"| {g(r['oursTrain'])} | {g(r['torchTrain'])} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
