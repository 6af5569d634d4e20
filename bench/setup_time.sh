#!/usr/bin/env bash
# Measures `make setup` on a fresh clone: cold (empty venv), then warm (second run), and the venv size.
#   bash bench/setup_time.sh [CLONE_DIR]
# The cold run downloads ~5 GB of wheels (torch is a CUDA build) unless pip's cache has them.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$(mktemp -d /tmp/binpick-setup-bench.XXXXXX)}
git clone -q "$SRC" "$DIR/binpick"
cd "$DIR/binpick"
t0=$(date +%s%N); make setup >"$DIR/cold.log" 2>&1; t1=$(date +%s%N)
make setup >"$DIR/warm.log" 2>&1; t2=$(date +%s%N)
printf 'cold make setup: %d.%d s\nwarm make setup: %d.%d s\nvenv size:       %s\n' \
  $(( (t1 - t0) / 1000000000 )) $(( (t1 - t0) / 100000000 % 10 )) \
  $(( (t2 - t1) / 1000000000 )) $(( (t2 - t1) / 100000000 % 10 )) "$(du -sh .venv | cut -f1)"
echo "clone left in $DIR/binpick (logs in $DIR)"
