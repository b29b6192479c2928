#!/bin/sh
# Builds the CPU core (a separate CMake build folder, CPU only) and the GEMM benchmark against
# OpenBLAS, then runs it. Bench-only: needs Debian's libopenblas-dev; the product does not.
#   bench/gemm/run.sh [threads (2)] [rounds (7)]
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AUTOSCALE_BENCH_BUILD:-/tmp/autoscale-bench-gemm}
cmake -S "$root" -B "$build" -DAUTOSCALE_CUDA=OFF >/dev/null
cmake --build "$build" --target autoscale_core -j2 >/dev/null
g++ -O3 -march=native -std=c++17 -fopenmp -Wall -Wextra -I"$root/native" -I/usr/include/x86_64-linux-gnu \
  "$root/bench/gemm/gemm_bench.cpp" "$build/libautoscale_core.a" -lopenblas -o "$build/gemm_bench"
exec "$build/gemm_bench" "${1:-2}" "${2:-7}"
