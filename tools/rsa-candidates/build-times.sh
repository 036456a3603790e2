#!/bin/bash
# Clean release build of each candidate in its own empty target dir (crates already
# downloaded; no network cost counted). Machine: 2 cores, shared -> indicative only.
cd "$(dirname "$0")"
for p in ${@:-rsa09 rsa09-u32 rsa010 awslc openssl-sys-lib openssl-vendored}; do
  d=$PWD/target/clean-$p
  rm -rf "$d"
  s=$(date +%s.%N)
  CARGO_TARGET_DIR=$d cargo build --release -q -p $p || { echo "$p FAILED"; continue; }
  e=$(date +%s.%N)
  sz=$(stat -c %s $d/release/$p)
  printf "%-18s clean build %6.1f s   binary %8d bytes (stripped: %d)\n" $p $(echo "$e - $s" | bc) $sz $(strip -o /tmp/stripped.$$ $d/release/$p && stat -c %s /tmp/stripped.$$)
  rm -rf "$d"
done
