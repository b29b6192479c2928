"""Model presets, FLOP counts and GPU peaks shared by the GPU benchmarks (bench/gpu/*).

FLOPs per trained token (forward + backward, the usual 6N accounting plus attention):
    6 * (12 * L * d^2) + 6 * V * d + 6 * L * T * d
MFU = tokens/s * FLOPs per token / peak FLOP/s of the precision the matmuls run in.
"""

# name: (vocab V, context T, width d, layers L, heads, batch on a GPU)
PRESETS = {
    "cpu-a": (256, 256, 128, 4, 4, 16),
    "cpu-b": (256, 256, 256, 6, 8, 16),
    "cpu-c": (4096, 256, 384, 6, 6, 8),
    "gpt2-124m": (50257, 1024, 768, 12, 12, 16),
}

# Dense peak FLOP/s by device name fragment and matmul precision (fp32 = non-tensor-core).
PEAKS = {
    "H200": {"bf16": 989e12, "tf32": 494e12, "fp32": 67e12},
    "H100": {"bf16": 989e12, "tf32": 494e12, "fp32": 67e12},
    "A100": {"bf16": 312e12, "tf32": 156e12, "fp32": 19.5e12},
}


def flops_per_token(preset):
    V, T, d, L, _, _ = PRESETS[preset]
    return 6 * (12 * L * d * d) + 6 * V * d + 6 * L * T * d


def peak_flops(device_name, precision):
    for key, peaks in PEAKS.items():
        if key in device_name:
            return peaks[precision]
    return None
