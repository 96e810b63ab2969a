#!/usr/bin/env bash
# run-suite.sh - `make bench`: a fresh litecached on a free port and a throwaway db, populated, the standard workloads, bench/results/latest.md.
#
# Environment: BENCH_USERS (100000) users to populate; BENCH_DURATION (5) seconds per measured run;
# BENCH_CONNECTIONS (50); BENCH_THREADS (2); BENCH_SIZES (1,5,10,20,50,100,200,500,1000) batch sizes;
# BENCH_OUT (bench/results/latest.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

USERS=${BENCH_USERS:-100000}
DUR=${BENCH_DURATION:-5}
CONNS=${BENCH_CONNECTIONS:-50}
THREADS=${BENCH_THREADS:-2}
SIZES=${BENCH_SIZES:-1,5,10,20,50,100,200,500,1000}
OUT=${BENCH_OUT:-$ROOT/bench/results/latest.md}
RESULTS=$(dirname "$OUT")
KEYS=10000
[ "$USERS" -lt "$KEYS" ] && KEYS=$USERS
[ "$KEYS" -lt 1 ] && KEYS=1

make -s all
mkdir -p "$RESULTS"

WORK=$(mktemp -d /tmp/litecached-bench.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {   # port, pid: until the server accepts, or it died
    for _ in $(seq 1 300); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

PORT=$(free_port)
SERVER_ARGS=(--port "$PORT" --db_path "$WORK/data.db" --workers 2 --http_port 0)
./litecached "${SERVER_ARGS[@]}" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
if ! wait_port "$PORT" "$SERVER_PID"; then
    echo "run-suite: litecached did not start:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
echo "run-suite: litecached (pid $SERVER_PID) on port $PORT, db $WORK/data.db"

B=(./litecached-bench --port "$PORT" --threads "$THREADS" --no-progress)
COMMON=(--duration "$DUR" --warmup 1 --connections "$CONNS")

run() {   # name, args...: one JSON result file per run, and the human table on the terminal
    local name=$1
    shift
    echo "run-suite: $name: litecached-bench $*"
    if ! "${B[@]}" "$@" --json >"$WORK/$name.json"; then
        FAILED=1
        if ! /usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$WORK/$name.json" 2>/dev/null; then
            echo "run-suite: $name failed before producing results" >&2
            exit 1
        fi
        echo "run-suite: $name reported errors (carrying on; the suite will fail)" >&2
    fi
    /usr/bin/python3 - "$WORK/$name.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
for r in rows if isinstance(rows, list) else [rows]:
    if "requests_per_s" in r:
        l = r["latency_us"]
        print(f"    {r['workload']:7} {str(r.get('batch_size', r.get('hit_ratio_target', ''))):>6} "
              f"{r['requests_per_s']:>10,.0f} req/s {r['queries_per_s']:>11,.0f} q/s  p50 {l['p50']}us  p99 {l['p99']}us"
              f"  errors {r['errors'] + r['lost']}")
EOF
}

FAILED=0
T0=$(date +%s)
run populate --populate "$USERS"
run hit hit "${COMMON[@]}" --keys "$KEYS"
run hit_d16 hit "${COMMON[@]}" --keys "$KEYS" --depth 16
run hit_row hit "${COMMON[@]}" --keys "$KEYS" --row-bytes 100
run miss miss "${COMMON[@]}"
run mixed mixed "${COMMON[@]}" --keys "$KEYS" --hit-ratio 0.9
run write write "${COMMON[@]}"
run named named "${COMMON[@]}" --keys "$KEYS"
run batch batch "${COMMON[@]}" --keys "$KEYS" --connections 4 --sizes "$SIZES" --plot "$RESULTS/batch.svg"
run ratios mixed "${COMMON[@]}" --keys "$KEYS" --hit-ratio 0,0.5,0.9,0.99,1 --plot "$RESULTS/hit-ratio.svg"
T1=$(date +%s)

# The report: machine, settings, every figure.
/usr/bin/python3 - "$WORK" "$OUT" "$USERS" "$DUR" "$CONNS" "$THREADS" "$((T1 - T0))" <<'EOF'
import json, os, platform, subprocess, sys, time
work, out, users, dur, conns, threads, elapsed = sys.argv[1:]

def load(name):
    return json.load(open(os.path.join(work, name + ".json")))

def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""

def us(v):
    return f"{v} µs" if v < 1000 else f"{v / 1000:.2f} ms" if v < 1e6 else f"{v / 1e6:.2f} s"

def ratio(r):
    return "–" if r.get("hit_ratio") is None else f"{100 * r['hit_ratio']:.1f}%"

rows = []
labels = [("hit", "hit: `SELECT * FROM users WHERE id = k`, warmed keys"),
          ("hit_d16", "hit, depth 16"),
          ("hit_row", "hit: 100-byte row from bench_kv"),
          ("miss", "miss: never-repeated lookups"),
          ("mixed", "mixed, hit ratio 0.9"),
          ("write", "write: single-row INSERT"),
          ("named", "named: `CALL getUserById k`")]
for name, label in labels:
    rows.append((label, load(name)))

pop = load("populate")["populate"]
dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
L = []
L.append("# litecached benchmark results\n")
L.append(f"Generated by `make bench` (bench/run-suite.sh) on {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
         f"commit `{git('rev-parse', '--short', 'HEAD') or 'unknown'}`{dirty}.\n")
L.append("## Machine\n")
L.append("| | |\n|---|---|")
L.append(f"| CPU | {cpu()} |")
L.append(f"| cores | {os.cpu_count()} |")
L.append(f"| kernel | {platform.release()} |")
L.append(f"| memory | {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB |")
try:
    L.append(f"| load average at the end | {open('/proc/loadavg').read().split()[0]} |")
except OSError:
    pass
L.append("")
L.append("Client and server share the machine: the client's threads take CPU from the server's, so the "
         "figures are lower bounds for a server with the machine to itself.\n")
L.append("## Set-up\n")
L.append(f"- server: `litecached --workers 2`, default settings (cache on, synchronous = normal), fresh database")
L.append(f"- client: `litecached-bench --threads {threads} --connections {conns} --depth 1` unless stated, "
         f"{dur} s measured after 1 s of warm-up per run; the whole suite took {elapsed} s")
L.append(f"- populate: {pop['users']:,} users (each with 2 items and 2 posts: {pop['rows']:,} rows) in "
         f"**{pop['seconds']:.2f} s** ({pop['users_per_s']:,.0f} users/s), BATCHes of 10,000 users as "
         f"100-row INSERTs over 4 connections\n")
L.append("## Workloads\n")
L.append("| workload | requests/s | queries/s | p50 | p90 | p99 | p99.9 | max | errors | hit ratio |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, r in rows:
    l = r["latency_us"]
    L.append(f"| {label} | {r['requests_per_s']:,.0f} | {r['queries_per_s']:,.0f} | {us(l['p50'])} | {us(l['p90'])} | "
             f"{us(l['p99'])} | {us(l['p99_9'])} | {us(l['max'])} | {r['errors'] + r['lost']} | {ratio(r)} |")
L.append("\nHit ratio comes from the server's STATS (cache_hits / (cache_hits + cache_misses) over the run); "
         "– means the server did not report cache counters.\n")
L.append("## BATCH size\n")
batch = load("batch")
L.append(f"`BATCH <n>` followed by n warmed point lookups, {batch[0]['connections']} connections, depth 1. "
         "Time per request is the mean latency of one BATCH; per-query time is that divided by n.\n")
L.append("| batch size | requests/s | time per request | per-query time | queries/s | p99 |")
L.append("|---:|---:|---:|---:|---:|---:|")
for r in batch:
    L.append(f"| {r['batch_size']} | {r['requests_per_s']:,.0f} | {r['time_per_request_us']:,.1f} µs | "
             f"{r['per_query_us']:,.2f} µs | {r['queries_per_s']:,.0f} | {us(r['latency_us']['p99'])} |")
L.append("\n![requests/s and p99 against batch size](batch.svg)\n")
L.append("## Hit ratio\n")
L.append("`mixed`: a fraction R of the lookups from the warmed hot set, the rest never repeated.\n")
L.append("| target | measured hit ratio | requests/s | p50 | p99 |")
L.append("|---:|---:|---:|---:|---:|")
for r in load("ratios"):
    L.append(f"| {r['hit_ratio_target']} | {ratio(r)} | {r['requests_per_s']:,.0f} | {us(r['latency_us']['p50'])} | "
             f"{us(r['latency_us']['p99'])} |")
L.append("\n![requests/s and p99 against hit ratio](hit-ratio.svg)\n")
errors = sum(r["errors"] + r["lost"] for _, r in rows) + sum(r["errors"] + r["lost"] for r in batch)
if errors:
    L.append(f"**{errors} requests failed during the suite.**\n")
open(out, "w").write("\n".join(L))
print(f"run-suite: report written to {out}")
EOF
if [ "$FAILED" != 0 ]; then
    echo "run-suite: some runs reported errors; see $OUT" >&2
    exit 1
fi
