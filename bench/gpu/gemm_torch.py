"""cuBLAS through torch.matmul on the GEMMs of a GPT-2 training step (the peer of
autoscale_gemm_bench): bf16 inputs (what PyTorch's autocast feeds cuBLAS), fp32 inputs with TF32,
and fp32. Prints one JSON object per line like autoscale_gemm_bench.

    python3 bench/gpu/gemm_torch.py [rows=16384] [width=768] [vocab=50257] [iterations=20]
"""
import json
import sys

import torch


def bench(fn, iterations):
    fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iterations):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / iterations


def main():
    defaults = [16384, 768, 50257, 20]
    rows, C, V, iterations = (int(sys.argv[1 + i]) if len(sys.argv) > 1 + i else defaults[i] for i in range(4))
    layers = [("qkv", C, 3 * C), ("attproj", C, C), ("fc", C, 4 * C), ("fcproj", 4 * C, C), ("lm_head", C, V)]
    for layer, cin, cout in layers:
        for precision in ("bf16", "tf32", "fp32"):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
            inp = torch.randn(rows, cin, device="cuda", dtype=dtype)
            w = torch.randn(cout, cin, device="cuda", dtype=dtype)
            dout = torch.randn(rows, cout, device="cuda", dtype=dtype)
            ops = {
                "forward": (lambda: inp @ w.t(), rows, cout, cin),
                "dinp": (lambda: dout @ w, rows, cin, cout),
                "dweight": (lambda: dout.t() @ inp, cout, cin, rows),
            }
            for op, (fn, M, N, K) in ops.items():
                ms = bench(fn, iterations)
                print(json.dumps({"layer": layer, "op": op, "M": M, "N": N, "K": K, "impl": "torch-cublas",
                                  "precision": precision, "ms": round(ms, 4),
                                  "tflops": round(2 * M * N * K / (ms * 1e-3) / 1e12, 2)}), flush=True)
            del inp, w, dout


if __name__ == "__main__":
    main()
