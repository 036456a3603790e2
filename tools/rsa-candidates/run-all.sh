#!/bin/bash
# Build every candidate (release = generic x86-64; "tuned" profile = cgu=1 + fat LTO;
# and target-cpu=native for the pure-Rust ones), then run them one after another.
# Usage: ./run-all.sh [ROUNDS]   (env ITERS=5000 KEYGEN=20 by default)
set -e
cd "$(dirname "$0")"
T=$PWD/target
export ITERS=${ITERS:-5000} KEYGEN=${KEYGEN:-20}
ROUNDS=${1:-2}
ALL="rsa09 rsa09-u32 rsa010 awslc openssl-sys-lib openssl-vendored"
PURE="rsa09 rsa09-u32 rsa010"
for p in $ALL; do CARGO_TARGET_DIR=$T cargo build -q --release -p $p; done
for p in $PURE; do CARGO_TARGET_DIR=$T cargo build -q --profile tuned -p $p; done
for p in $PURE; do CARGO_TARGET_DIR=$T/native RUSTFLAGS="-C target-cpu=native" cargo build -q --release -p $p; done
for r in $(seq 1 $ROUNDS); do
  echo "===== round $r  $(uptime)"
  for p in $ALL; do echo "--- $p (release, generic x86-64)"; $T/release/$p; done
  for p in $PURE; do echo "--- $p (tuned: cgu=1, lto=fat, generic)"; KEYGEN=3 $T/tuned/$p | grep -E 'us|ms'; done
  for p in $PURE; do echo "--- $p (release, target-cpu=native)"; KEYGEN=3 $T/native/release/$p | grep -E 'us|ms'; done
done
