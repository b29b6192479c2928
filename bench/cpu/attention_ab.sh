#!/bin/sh
# Attention A/B: the revision REV's native/cpu/attention.cpp against the working tree's, in one process
# (bench/cpu/attention_ab.cpp). Builds the working tree's CPU core in a CMake folder of its own.
#   bench/cpu/attention_ab.sh REV [threads 1] [rounds 21]
#   AUTOSCALE_MARCH=x86-64-v3 bench/cpu/attention_ab.sh REV      both sides built for AVX2 + FMA
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
rev=${1:?usage: attention_ab.sh REV [threads] [rounds]}
march=${AUTOSCALE_MARCH:-native}
build=${AUTOSCALE_BENCH_BUILD:-/tmp/autoscale-bench-attention-$march}
if [ "$march" = native ]; then arch_flag=; else arch_flag=-DAUTOSCALE_MARCH=$march; fi
cmake -S "$root" -B "$build" -DAUTOSCALE_CUDA=OFF $arch_flag >/dev/null
cmake --build "$build" --target autoscale_core -j2 >/dev/null
git -C "$root" show "$rev:native/cpu/attention.cpp" |
  sed 's/attention_forward_cpu/attention_forward_old/; s/attention_backward_cpu/attention_backward_old/;
       s|#include "ops.h"|#include "cpu/ops.h"|; s|#include "simd.h"|#include "cpu/simd.h"|' >"$build/attention_old.cpp"
# the core's own flags (CMakeLists.txt): the old side is compiled as it was in the core
g++ -O3 -march="$march" -fno-math-errno -fno-trapping-math -std=c++17 -fopenmp -I"$root/native" \
  -c "$build/attention_old.cpp" -o "$build/attention_old.o"
g++ -O2 -std=c++17 -fopenmp -I"$root/native" "$root/bench/cpu/attention_ab.cpp" "$build/attention_old.o" \
  "$build/libautoscale_core.a" -o "$build/attention_ab"
exec "$build/attention_ab" "${2:-1}" "${3:-21}"
