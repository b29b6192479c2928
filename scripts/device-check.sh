#!/usr/bin/env bash
# The GPU check of the CUDA backend, in one script. On a machine with an NVIDIA GPU it:
#   1. builds the addon with CUDA for this GPU's architecture (when nvcc, cmake and cmake-js are
#      there), else uses a prebuilt addon (build-cmake/Release/autoscale.node);
#   2. runs the CUDA-vs-CPU parity tests (test/native/cuda-parity.test.ts) and the error tests;
#   3. runs compute-sanitizer (memcheck, racecheck, initcheck) on a short training run;
#   4. runs the GPU benchmarks, ours against PyTorch eager / torch.compile and cuBLAS;
# and writes everything under RESULTS_DIR (default ./device-results), with summary.md on top.
# No network is needed. Budget: about 8 minutes on an H100/H200.
#
#   bash scripts/device-check.sh [RESULTS_DIR]
#   bash scripts/device-check.sh --prepare
#
# --prepare runs on the build machine (no GPU needed): it builds the addon with CUDA and the GEMM
# benchmark, then packs into .device/carry.tar.gz what a bare GPU machine lacks: the prebuilt
# addon and benchmark, the node_modules that the tests need (ava, tsx and their dependencies),
# and the node binary. The check unpacks it when node_modules or the addon are missing.
#
# Node: `node` on PATH, else /tmp/node, else .device/bin/node (from the carry).
# Environment: DEVICE_CHECK_NO_BUILD=1 skips the build (use the prebuilt addon);
# DEVICE_CHECK_SKIP="sanitizer bench" skips phases by name (build tests sanitizer bench).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

find_node() {
  if command -v node >/dev/null 2>&1; then command -v node
  elif [ -x /tmp/node ]; then echo /tmp/node
  elif [ -x "$ROOT/.device/bin/node" ]; then echo "$ROOT/.device/bin/node"
  else return 1
  fi
}

find_tool() { # $1 = name: on PATH or in the usual CUDA folders
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return 0; fi
  local d
  for d in /usr/local/cuda/bin /usr/local/cuda-*/bin /opt/nvidia/*/bin; do
    if [ -x "$d/$1" ]; then echo "$d/$1"; return 0; fi
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
if [ "${1:-}" = "--prepare" ]; then
  NODE=$(find_node) || { echo "prepare: node not found"; exit 1; }
  if ! AUTOSCALE_CUDA=ON AUTOSCALE_CUDA_ARCHITECTURES="${AUTOSCALE_CUDA_ARCHITECTURES:-80;90}" "$NODE" scripts/build-native.mjs --cmake; then
    echo "prepare: the CUDA build of the addon failed"; exit 1
  fi
  cmake --build build-cmake --target autoscale_gemm_bench || { echo "prepare: the GEMM benchmark did not build"; exit 1; }
  mkdir -p .device
  # The dependency closure of the test runner (ava) and the TypeScript loader (tsx).
  "$NODE" --input-type=module -e '
    import fs from "node:fs"; import path from "node:path";
    const root = process.cwd(); const seen = new Set();
    const find = (name, from) => { for (let d = from; ; d = path.dirname(d)) {
      const p = path.join(d, "node_modules", name);
      if (fs.existsSync(path.join(p, "package.json"))) return p;
      if (path.dirname(d) === d) return null; } };
    const walk = (dir) => { if (!dir || seen.has(dir)) return; seen.add(dir);
      const pj = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
      for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) walk(find(dep, dir)); };
    for (const name of ["ava", "tsx"]) walk(find(name, root));
    fs.writeFileSync(".device/modules.txt", [...seen].map((p) => path.relative(root, p)).join("\n") + "\n");
  ' || { echo "prepare: could not list node_modules"; exit 1; }
  node_real=$(readlink -f "$NODE")
  tar -czf .device/carry.tar.gz -T .device/modules.txt build-cmake/Release/autoscale.node build-cmake/autoscale_gemm_bench \
    -C "$(dirname "$node_real")" --transform "s,^$(basename "$node_real")\$,.device/bin/node," "$(basename "$node_real")" \
    || { echo "prepare: tar failed"; exit 1; }
  size=$(du -m .device/carry.tar.gz | cut -f1)
  echo "prepare: .device/carry.tar.gz is ${size} MiB (carry it as '.device'; the limit is 64 MiB in all)"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
OUT=${1:-device-results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SUMMARY="$OUT/summary.md"
STATUS=0
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
skip_phase() { case " ${DEVICE_CHECK_SKIP:-} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
phase_start() { PHASE=$1; PHASE_T0=$(date +%s); echo "== $1"; }
phase_end() { # $1 = ok|FAILED|skipped, $2 = detail
  local dt=$(($(date +%s) - PHASE_T0))
  note "- **$PHASE**: $1 (${dt}s)${2:+ — $2}"
  [ "$1" = FAILED ] && STATUS=1
  return 0
}

note "# device-check $(date -u +%Y-%m-%dT%H:%M:%SZ) at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
note ""

# The carry from --prepare, where this machine lacks node_modules or the addon.
if [ -f .device/carry.tar.gz ] && { [ ! -d node_modules/ava ] || [ ! -f build-cmake/Release/autoscale.node ] || ! find_node >/dev/null; }; then
  tar -xzf .device/carry.tar.gz --skip-old-files && echo "unpacked .device/carry.tar.gz"
fi
NODE=$(find_node) || { note "node not found (PATH, /tmp/node, .device/bin/node): cannot run the check"; exit 1; }
export PATH="$(dirname "$NODE"):$PATH"
NVCC=$(find_tool nvcc || true)
SANITIZER=$(find_tool compute-sanitizer || true)

{
  echo "## environment"
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
  echo "node: $NODE $("$NODE" --version 2>&1)"
  echo "nvcc: ${NVCC:-none} $([ -n "$NVCC" ] && "$NVCC" --version | tail -2 | tr '\n' ' ')"
  echo "compute-sanitizer: ${SANITIZER:-none}"
  echo "cmake: $(cmake --version 2>/dev/null | head -1 || echo none)"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())' 2>&1
} >"$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"

# ---- 1. build ----
phase_start build
if skip_phase build || [ -n "${DEVICE_CHECK_NO_BUILD:-}" ]; then
  phase_end skipped "using the prebuilt addon"
elif [ -z "$NVCC" ] || ! command -v cmake >/dev/null 2>&1 || [ ! -d node_modules/cmake-js ]; then
  phase_end skipped "nvcc, cmake or cmake-js missing: using the prebuilt addon"
else
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  export PATH="$(dirname "$NVCC"):$PATH"
  if AUTOSCALE_CUDA=ON AUTOSCALE_CUDA_ARCHITECTURES="${arch:-90}" timeout 420 "$NODE" scripts/build-native.mjs --cmake \
    >"$OUT/build.log" 2>&1; then
    cmake --build build-cmake --target autoscale_gemm_bench >>"$OUT/build.log" 2>&1
    warnings=$(grep -ci 'warning' "$OUT/build.log" || true)
    phase_end ok "sm_${arch:-90}, ${warnings} warning lines (build.log)"
  else
    phase_end FAILED "see build.log; falling back to the prebuilt addon"
  fi
fi
if [ ! -f build-cmake/Release/autoscale.node ]; then
  note "no addon (build-cmake/Release/autoscale.node): build it, or run --prepare on the build machine"
  exit 1
fi

"$NODE" --import tsx lib/cli.ts info --json >"$OUT/info.json" 2>&1
if ! "$NODE" -e 'const i = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(i.backends.cuda.available ? 0 : 1)' "$OUT/info.json"; then
  note "the addon sees no CUDA device: $(cat "$OUT/info.json" | tr '\n' ' ' | cut -c1-600)"
  exit 1
fi
note "- addon: $("$NODE" -e 'const i = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const d = i.backends.cuda.devices[0]; console.log(`${d.name}, compute ${d.computeCapability}, ${(d.totalMemory / 2 ** 30).toFixed(0)} GiB`)' "$OUT/info.json")"

# ---- 2. parity tests ----
phase_start tests
if skip_phase tests; then
  phase_end skipped
else
  timeout 420 "$NODE" node_modules/ava/entrypoints/cli.mjs --tap --timeout=5m \
    test/native/cuda-parity.test.ts test/native/errors.test.ts >"$OUT/tests.tap" 2>&1
  rc=$?
  passed=$(grep -cE '^ok [0-9]+' "$OUT/tests.tap" || true)
  failed=$(grep -cE '^not ok [0-9]+' "$OUT/tests.tap" || true)
  skipped=$(grep -cE '^ok [0-9]+.*# SKIP' "$OUT/tests.tap" || true)
  if [ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ]; then
    phase_end ok "$passed passed (tests.tap)"
  else
    phase_end FAILED "exit $rc: $passed passed, $failed failed, $skipped skipped (tests.tap)"
    grep -E '^not ok' "$OUT/tests.tap" | head -40 >>"$SUMMARY"
  fi
fi

# ---- 3. compute-sanitizer ----
phase_start sanitizer
if skip_phase sanitizer; then
  phase_end skipped
elif [ -z "$SANITIZER" ]; then
  phase_end skipped "compute-sanitizer not found"
else
  results=""
  for spec in "memcheck:fp32,bf16" "racecheck:bf16" "initcheck:fp32"; do
    tool=${spec%%:*}
    precisions=${spec#*:}
    extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check no)
    [ "$tool" = racecheck ] && extra=(--racecheck-report hazard)
    timeout 200 "$SANITIZER" --tool "$tool" "${extra[@]}" --error-exitcode 3 --target-processes all \
      "$NODE" --import tsx bench/gpu/sanitize_run.ts "$precisions" >"$OUT/sanitizer-$tool.log" 2>&1
    rc=$?
    errors=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer-$tool.log" | tail -1)
    results="$results $tool: exit $rc ${errors:+($errors)};"
    [ "$rc" -ne 0 ] && sanitizer_failed=1
  done
  if [ -z "${sanitizer_failed:-}" ]; then phase_end ok "$results"; else phase_end FAILED "$results see sanitizer-*.log"; fi
fi

# ---- 4. benchmarks ----
phase_start bench
if skip_phase bench; then
  phase_end skipped
else
  gemm_bench=build-cmake/autoscale_gemm_bench
  timeout 480 python3 bench/gpu/run_bench.py --out "$OUT/bench" --node "$NODE" --gemm-bench "$gemm_bench" --quick \
    >"$OUT/bench.out" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ] && [ -f "$OUT/bench/bench.md" ]; then
    phase_end ok "bench/bench.md, bench/train.json, bench/gemm.json"
    if grep -q '"error"' "$OUT/bench/train.json" "$OUT/bench/gemm.json"; then
      note "  (some benchmark runs failed: see bench/bench.log)"
    fi
  else
    phase_end FAILED "exit $rc (bench.out)"
  fi
fi

note ""
note "result: $([ $STATUS -eq 0 ] && echo 'all phases passed' || echo 'FAILURES above')"
[ -f "$OUT/bench/bench.md" ] && cat "$OUT/bench/bench.md" >>"$SUMMARY"
exit $STATUS
