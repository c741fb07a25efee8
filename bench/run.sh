#!/usr/bin/env bash
# Runs every benchmark that docs/benchmarks.md reports, in one go, with the
# machine's single-core limits and load recorded in the same run.
# Usage: bash bench/run.sh [OUTFILE]   (default: bench-results.txt)
# Takes about 11 minutes on 2 cores (4 of them the engines' comparison); needs ~40 GB free disk (16 GiB of
# concurrent uploads, and a 10 GiB file copied into a FUSE mount).
set -uo pipefail
cd "$(dirname "$0")/.."
unset AWS_CA_BUNDLE
out=${1:-bench-results.txt}
{
  echo "# $(date -u +%FT%TZ) $(go version)"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) nproc=$(nproc)"
  echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  go test -run '^$' -bench 'Limit' -benchtime 1s ./bench/
  # Includes the catalog engines side by side (BenchmarkEngines over S3,
  # BenchmarkCatalogEngines the catalog alone): Badger against a durable
  # PostgreSQL that internal/pgtest starts (Debian's postgresql package).
  go test -run '^$' -bench . -benchtime 1x -count 1 -timeout 30m ./bench/ 2>&1 | grep -v Limit
  go test -run '^$' -bench 'Store|RandomRead|Stage|DiskWrite' -benchtime 1s ./chunkstore/
  go test -run '^$' -bench 'List' -benchtime 1x ./catalog/
  # The FUSE figures (root and /dev/fuse needed; ext4 and tmpfs beside them).
  FSMOUNT_BENCH=1 FSMOUNT_BENCH_OUT=/dev/stdout go test ./fsmount -run TestBenchFsmount -v -timeout 15m
  # Side by side with the peers (docs/benchmarks.md, "Side by side with the
  # peers"): only when their binaries are given; ~20 min on a loaded machine.
  if [ -n "${JUICEFS_BIN:-}${VGW_BIN:-}" ]; then
    go test -run '^$' -bench SideBySide -benchtime 1x -timeout 60m ./bench/peers/
  fi
  echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$out"
