#!/bin/sh
# Builds the CPU core (a separate CMake build folder, CPU only) and the GEMM benchmark against
# OpenBLAS, then runs it. Bench-only: needs Debian's libopenblas-dev; the product does not.
#   bench/gemm/run.sh [threads (2)] [rounds (7)] [shape prefix: demo, cpu-a... (all)]
#   OPENBLAS_CORETYPE=SkylakeX bench/gemm/run.sh    OpenBLAS's AVX-512 kernels (it picks its AVX2
#                                                   Haswell kernels on AMD Zen by itself)
# OpenBLAS's idle worker threads busy-wait for about 2^28 cycles after each call by default, taking
# a core from the next measurement (ours, interleaved); 2^4 cycles makes the two sides independent
# without slowing OpenBLAS's own calls.
set -e
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AUTOSCALE_BENCH_BUILD:-/tmp/autoscale-bench-gemm}
cmake -S "$root" -B "$build" -DAUTOSCALE_CUDA=OFF >/dev/null
cmake --build "$build" --target autoscale_core -j2 >/dev/null
g++ -O3 -march=native -std=c++17 -fopenmp -Wall -Wextra -I"$root/native" -I/usr/include/x86_64-linux-gnu \
  "$root/bench/gemm/gemm_bench.cpp" "$build/libautoscale_core.a" -lopenblas -o "$build/gemm_bench"
exec "$build/gemm_bench" "${1:-2}" "${2:-7}" ${3:+"$3"}
