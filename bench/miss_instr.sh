#!/usr/bin/env bash
# miss_instr.sh - a miss's user-space instructions with the cache on and with it off, counted by callgrind: repeatable whatever else the machine does.
# A timed comparison of a miss on this shared machine moves by ±10% from run to run, as much as the goal's
# whole margin; the instructions that the same binary runs for the same requests do not. They leave out
# what a timed run also pays for (the kernel's share, which both sides share, and the CPU caches'
# misses), so they are a lower bound on the cost the cache adds to a miss, and the way to see whether
# a change to the miss path made it cheaper.
# Both servers (one worker each, under valgrind at the same time) read one database of MI_USERS
# (100000) users: MI_WARM (30000) misses first, which fill the cache-on server's 4 MiB tier 1 so that
# admission turns most fills away, as in a long run; then MI_MISSES (20000) counted ones. The sweep is
# put off (cache_sweep_ms), as it runs by the clock, and valgrind's clock runs slower.
# Prints "<on> <off>": instructions per counted miss.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need_packages miss_instr valgrind >&2
USERS=${MI_USERS:-100000}
WARM=${MI_WARM:-30000}
MISSES=${MI_MISSES:-20000}
WORK=$(mktemp -d /tmp/lc-mi.XXXXXX)
PIDS=()
declare -A PID   # name -> pid
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
B=(./litecached-bench --no-progress --call --threads 1 --connections 10 --warmup 0)

# start NAME CMD...: a server on a free port (PORT), its pid in PIDS and PID[NAME]
start() {
    local name=$1
    shift
    PORT=$(free_port)
    "$@" --db_path "$WORK/data.db" --port "$PORT" --http_port 0 --workers 1 --cache_sweep_ms 3600000 \
        >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    PID[$name]=$!
    wait_port "$PORT" "$!" 1200 || { cat "$WORK/$name.log" >&2; echo "miss_instr: $name did not start" >&2; exit 1; }
}

start pop ./litecached
echo "miss_instr: litecached-bench --populate $USERS" >&2
"${B[@]}" --port "$PORT" --populate "$USERS" >/dev/null
kill "${PID[pop]}"
wait "${PID[pop]}" || true

CG=(valgrind --tool=callgrind)
start on "${CG[@]}" --callgrind-out-file="$WORK/on.cg" ./litecached --cache_hot_bytes 4m
ON=$PORT
start off "${CG[@]}" --callgrind-out-file="$WORK/off.cg" ./litecached --cache_mode off
OFF=$PORT
# misses N [args]: N misses on each server at the same time
misses() {
    local n=$1 a b
    shift
    "${B[@]}" miss --port "$ON" --requests "$n" "$@" >/dev/null &
    a=$!
    "${B[@]}" miss --port "$OFF" --requests "$n" "$@" >/dev/null &
    b=$!
    wait "$a" "$b"
}
echo "miss_instr: $WARM misses to warm up, then $MISSES counted, under callgrind" >&2
misses "$WARM"
callgrind_control -z "${PID[on]}" "${PID[off]}" >/dev/null 2>&1
misses "$MISSES" --seed 7
callgrind_control -d "${PID[on]}" "${PID[off]}" >/dev/null 2>&1
# summary: the instructions of every thread between the zeroing and the dump (the first dump: NAME.cg.1)
per_miss() { awk -v n="$MISSES" '/^summary:/ { printf "%.0f", $2 / n; found = 1 } END { exit !found }' "$WORK/$1.cg.1"; }
echo "$(per_miss on) $(per_miss off)"
