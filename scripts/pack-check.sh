#!/usr/bin/env bash
# The package as a user gets it: `npm pack` this checkout, install the tarball into a fresh
# `npm init -y` project (dependencies from npm's cache: --prefer-offline), then use it the way the
# README says: import it (ESM) and require() it (CommonJS), create a Model and run a trainStep, run
# the `autoscale` bin, run the README's library examples exactly as written (the code blocks
# marked `<!-- pack-check: FILE -->`), and check the install built what a clone builds (the CMake
# addon, with CUDA when nvcc is found). Last, the CMake build is made to fail (a `cmake` that exits
# 1 first on PATH) to check that the fallback to node-gyp says what was lost, and that
# `autoscale info` still tells after the build output is gone.
#
# Prints TAP ("ok N - ...", "not ok N - ...") so .ci/run counts each check. Exit status 0 when all pass.
#   scripts/pack-check.sh            (AUTOSCALE_CUDA=OFF skips CUDA; AUTOSCALE_PACK_KEEP=1 keeps the project)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/autoscale-pack-check.XXXXXX")
if [ "${AUTOSCALE_PACK_KEEP:-0}" = 1 ]; then echo "# project kept in $work"; else trap 'rm -rf "$work"' EXIT; fi

n=0
failed=0
check() { # $1 = description, then the command; prints its TAP line, and the command's output on failure
  local description=$1 output status
  shift
  n=$((n + 1))
  output=$("$@" 2>&1)
  status=$?
  if [ "$status" -eq 0 ]; then
    echo "ok $n - $description"
  else
    echo "not ok $n - $description"
    printf '%s\n' "$output" | tail -40 | sed 's/^/  # /'
    failed=$((failed + 1))
  fi
  return "$status"
}
finish() {
  echo "1..$n"
  echo "# pack-check: $((n - failed)) passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

nvcc_found() { [ -n "${CUDACXX:-}" ] || command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }
cuda_expected=false
if [ "${AUTOSCALE_CUDA:-AUTO}" != OFF ] && nvcc_found; then cuda_expected=true; fi
echo "# CUDA expected in the installed build: $cuda_expected"

# ---- pack
pack() {
  (cd "$root" && npm pack --silent --pack-destination "$work" >"$work/pack.txt") || return 1
  tarball="$work/$(tail -1 "$work/pack.txt")"
  [ -f "$tarball" ]
}
check 'npm pack makes a tarball' pack || finish
tarball="$work/$(tail -1 "$work/pack.txt")"
shipped() {
  local listing
  listing=$(tar -tzf "$tarball") || return 1
  for f in package/dist/index.js package/dist/cli.js package/dist/index.d.ts package/CMakeLists.txt package/binding.gyp \
    package/native/sources.json package/scripts/build-native.mjs package/schema/pipeline-config.schema.json; do
    grep -qx "$f" <<<"$listing" || { echo "missing from the tarball: $f"; return 1; }
  done
  if grep -qE '^package/(test|bench)/' <<<"$listing"; then echo "the tarball ships test/ or bench/"; return 1; fi
}
check 'the tarball ships dist/, native/, the build files, the config JSON Schema and no tests or benchmarks' shipped

# ---- install into a fresh project
project="$work/project"
mkdir -p "$project"
install_package() {
  (cd "$project" && npm init -y >/dev/null &&
    npm install --prefer-offline --no-audit --no-fund --foreground-scripts "$tarball") >"$work/install.log" 2>&1 || {
    tail -40 "$work/install.log"
    return 1
  }
}
check 'npm install of the tarball in a fresh `npm init -y` project' install_package || finish
pkg="$project/node_modules/autoscale-lm"

cmake_built() {
  if grep -q 'falling back to node-gyp' "$work/install.log"; then grep -A6 'WARNING' "$work/install.log"; return 1; fi
  [ -f "$pkg/build-cmake/Release/autoscale.node" ] || { echo "no build-cmake/Release/autoscale.node"; return 1; }
}
check 'the install built the CMake addon (no fallback to node-gyp)' cmake_built

cuda_as_a_clone() {
  (cd "$project" && node --input-type=module -e "
    import { backendInfo } from 'autoscale-lm';
    const { cuda } = backendInfo().backends;
    if (cuda.compiled !== $cuda_expected) { console.error('cuda.compiled is', cuda.compiled, 'expected $cuda_expected:', cuda.reason); process.exit(1); }")
}
check "the installed addon has CUDA compiled in exactly when a clone would ($cuda_expected)" cuda_as_a_clone

# ---- use it
train_esm() {
  (cd "$project" && node --input-type=module -e "
    import { Model } from 'autoscale-lm';
    const model = new Model({ vocabSize: 256, contextLength: 16, width: 32, layers: 1, heads: 2 }, { backend: 'cpu', batchSize: 2 });
    const { loss, step } = await model.trainStep(new Uint16Array(2 * 17).map((_, i) => i % 256), 1e-3);
    model.dispose();
    if (!(Number.isFinite(loss) && step === 1)) process.exit(1);
    console.log('loss', loss);")
}
check 'import from ESM: a Model trains one step' train_esm

train_cjs() {
  (cd "$project" && node -e "
    const { Model, optimizeComposition } = require('autoscale-lm');
    if (typeof optimizeComposition !== 'function') process.exit(1);
    const model = new Model({ vocabSize: 256, contextLength: 16, width: 32, layers: 1, heads: 2 }, { backend: 'cpu', batchSize: 2 });
    model.trainStep(new Uint16Array(2 * 17), 1e-3).then(({ loss }) => { model.dispose(); if (!Number.isFinite(loss)) process.exit(1); });")
}
check 'require() from CommonJS (Node >= 20.19): a Model trains one step' train_cjs

bin_runs() {
  (cd "$project" && npx --no-install autoscale info --json >"$work/info.json") || return 1
  node -e "const i = JSON.parse(require('fs').readFileSync('$work/info.json', 'utf8')); if (!i.version || !i.backends.cpu.available) process.exit(1)"
}
check 'the autoscale bin runs through its node_modules/.bin symlink' bin_runs

users_cli() {
  printf '%s\n' "const lib = require('autoscale-lm');" "console.log('my cli', typeof lib.Model);" >"$project/cli.js"
  local out
  out=$(cd "$project" && node cli.js info) || return 1
  [ "$out" = 'my cli function' ] || { echo "got: $out"; return 1; }
}
check "a user's own cli.js that requires the package runs the user's code only" users_cli

# The README's examples, exactly as written.
readme_examples() {
  local names
  names=$(node -e "
    const fs = require('fs');
    const text = fs.readFileSync('$root/README.md', 'utf8');
    const blocks = [...text.matchAll(/<!-- pack-check: (\S+)[^>]*-->\n\`\`\`js\n([\s\S]*?)\n\`\`\`/g)];
    for (const [, name, code] of blocks) fs.writeFileSync('$project/' + name, code + '\n');
    console.log(blocks.map((b) => b[1]).join(' '));") || return 1
  [ -n "$names" ] || { echo 'no <!-- pack-check: FILE --> blocks in README.md'; return 1; }
  for name in $names; do
    echo "== node $name"
    (cd "$project" && node "$name") || { echo "node $name failed"; return 1; }
  done
}
check "the README's library examples run as written" readme_examples

# ---- a failed CMake build: the fallback must say what was lost, and autoscale info must tell later
fallback_says_so() {
  mkdir -p "$work/fakebin"
  printf '#!/bin/sh\necho "cmake: made to fail by scripts/pack-check.sh" >&2\nexit 1\n' >"$work/fakebin/cmake"
  chmod +x "$work/fakebin/cmake"
  rm -rf "$pkg/build-cmake" "$pkg/build"
  (cd "$pkg" && PATH="$work/fakebin:$PATH" node scripts/build-native.mjs) >"$work/fallback.log" 2>&1 || {
    tail -30 "$work/fallback.log"
    return 1
  }
  grep -q 'WARNING: falling back to node-gyp' "$work/fallback.log" || { echo 'no fallback banner'; tail -30 "$work/fallback.log"; return 1; }
  if $cuda_expected; then
    grep -q 'Lost: the CUDA backend' "$work/fallback.log" || { echo 'the banner does not say CUDA was lost'; grep -A5 WARNING "$work/fallback.log"; return 1; }
  fi
  [ -f "$pkg/build/autoscale-fallback.json" ] || { echo 'no build/autoscale-fallback.json'; return 1; }
  local info
  info=$(cd "$project" && npx --no-install autoscale info) || return 1
  echo "$info"
  grep -q 'node-gyp build (CPU only) that the install fell back to because the CMake build failed' <<<"$info"
}
check 'a failed CMake build falls back to node-gyp loudly, and autoscale info says why CUDA is missing' fallback_says_so

finish
