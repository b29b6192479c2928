"""GPU benchmarks, ours against PyTorch on the same GPU, written to one folder:
  train.json  every training run (tokens/s, ms/step, MFU) and, per preset and precision, the
              ratio of our tokens/s to PyTorch eager's and torch.compile's
  gemm.json   our GEMMs (own kernels, cuBLASLt when compiled in) and torch.matmul (cuBLAS)
  bench.md    the same as tables

    python3 bench/gpu/run_bench.py --out DIR [--node NODE] [--gemm-bench PATH] [--quick]

Each run is a subprocess with a timeout: one failure is recorded, the rest go on.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from presets import PRESETS, flops_per_token, peak_flops  # noqa: E402


def run_json(cmd, timeout, log):
    """Runs cmd, returns the JSON objects it printed (one per line) or an error record."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log.write(f"$ {' '.join(cmd)}\nTIMEOUT after {timeout}s\n\n")
        return [{"error": f"timeout after {timeout}s", "cmd": " ".join(cmd)}]
    log.write(f"$ {' '.join(cmd)}  ({time.time() - t0:.1f}s, exit {p.returncode})\n{p.stdout}{p.stderr}\n")
    log.flush()
    rows = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    if p.returncode != 0 or not rows:
        tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
        rows.append({"error": f"exit {p.returncode}: " + " | ".join(tail), "cmd": " ".join(cmd)})
    return rows


def device_name():
    try:
        import torch
        return torch.cuda.get_device_name()
    except Exception:  # noqa: BLE001
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--node", default="node")
    ap.add_argument("--gemm-bench", default="")
    ap.add_argument("--quick", action="store_true", help="fewer runs (the device-check budget)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "bench.log"), "w")
    device = device_name()
    py = sys.executable

    # (preset, precision, [impls]); torch.compile costs a minute of compilation per model, so it
    # runs where the targets are stated (gpt2-124m, bf16) and on one small preset.
    plan = [
        ("gpt2-124m", "bf16", ["ours", "torch-eager", "torch-compile"]),
        ("gpt2-124m", "tf32", ["ours", "torch-eager"]),
        ("cpu-c", "bf16", ["ours", "torch-eager", "torch-compile"]),
        ("cpu-a", "bf16", ["ours", "torch-eager"]),
        ("cpu-b", "bf16", ["ours", "torch-eager"]),
    ]
    if not args.quick:
        plan += [("gpt2-124m", "fp32", ["ours", "torch-eager"]), ("cpu-c", "fp32", ["ours", "torch-eager"])]

    train = []
    for preset, precision, impls in plan:
        steps = "10" if preset == "gpt2-124m" else "20"
        for impl in impls:
            if impl == "ours":
                cmd = [args.node, "--import", "tsx", "bench/gpu/train_ours.ts", "--preset", preset,
                       "--precision", precision, "--steps", steps]
                timeout = 240
            else:
                cmd = [py, "bench/gpu/gpt2_torch.py", "--preset", preset, "--precision", precision,
                       "--mode", impl.split("-")[1], "--steps", steps]
                timeout = 300 if impl == "torch-compile" else 120
            for row in run_json(cmd, timeout, log):
                row.setdefault("impl", "autoscale-cuda" if impl == "ours" else impl)
                row.setdefault("preset", preset)
                row.setdefault("precision", precision)
                if "tokens_per_s" in row:
                    fpt = flops_per_token(preset)
                    peak = peak_flops(device, precision)
                    row["flops_per_token"] = fpt
                    row["mfu"] = row["tokens_per_s"] * fpt / peak if peak else None
                train.append(row)
                print(json.dumps(row), flush=True)

    ratios = []
    for preset, precision, _ in plan:
        rows = {r["impl"]: r for r in train if r.get("preset") == preset and r.get("precision") == precision
                and "tokens_per_s" in r}
        ours = rows.get("autoscale-cuda")
        for peer in ("torch-eager", "torch-compile"):
            if ours and peer in rows:
                ratios.append({"preset": preset, "precision": precision, "peer": peer,
                               "ours_tokens_per_s": ours["tokens_per_s"], "peer_tokens_per_s": rows[peer]["tokens_per_s"],
                               "ratio": ours["tokens_per_s"] / rows[peer]["tokens_per_s"]})
    targets = {}
    g = {r["impl"]: r for r in train if r.get("preset") == "gpt2-124m" and r.get("precision") == "bf16" and "tokens_per_s" in r}
    if "autoscale-cuda" in g:
        targets["mfu_at_least_40pct"] = (g["autoscale-cuda"].get("mfu") or 0) >= 0.40
        if "torch-compile" in g:
            targets["at_least_torch_compile_tokens_per_s"] = g["autoscale-cuda"]["tokens_per_s"] >= g["torch-compile"]["tokens_per_s"]

    gemm = []
    if args.gemm_bench and os.path.exists(args.gemm_bench):
        gemm += run_json([args.gemm_bench], 240, log)
    gemm += run_json([py, "bench/gpu/gemm_torch.py"], 240, log)

    with open(os.path.join(args.out, "train.json"), "w") as f:
        json.dump({"device": device, "runs": train, "ratios": ratios, "targets": targets}, f, indent=2)
    with open(os.path.join(args.out, "gemm.json"), "w") as f:
        json.dump({"device": device, "runs": gemm}, f, indent=2)

    md = [f"# GPU benchmarks on {device}", "", "## Training (tokens/s, MFU)", "",
          "| preset | precision | impl | batch | ms/step | tokens/s | MFU |", "|---|---|---|---|---|---|---|"]
    for r in train:
        if "tokens_per_s" in r:
            mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") else "-"
            md.append(f"| {r['preset']} | {r['precision']} | {r['impl']} | {r.get('batch')} | {r['ms_per_step']:.1f} | "
                      f"{r['tokens_per_s']:.0f} | {mfu} |")
        else:
            md.append(f"| {r.get('preset')} | {r.get('precision')} | {r.get('impl')} | | | error: {r.get('error')} | |")
    md += ["", "## Ours / peer tokens/s", "", "| preset | precision | peer | ratio |", "|---|---|---|---|"]
    md += [f"| {r['preset']} | {r['precision']} | {r['peer']} | {r['ratio']:.2f} |" for r in ratios]
    md += ["", f"Targets (gpt2-124m, bf16): {json.dumps(targets)}", "", "## GEMM (TFLOP/s)", "",
           "| layer | op | M | N | K | impl | precision | ms | TFLOP/s | max rel err |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in gemm:
        if "ms" in r:
            md.append(f"| {r['layer']} | {r['op']} | {r['M']} | {r['N']} | {r['K']} | {r['impl']} | {r['precision']} | "
                      f"{r['ms']:.3f} | {r['tflops']:.1f} | {r.get('max_rel_err', '')} |")
        else:
            md.append(f"| error: {r.get('error')} |")
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
