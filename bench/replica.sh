#!/usr/bin/env bash
# replica.sh - `make bench-replica`: uncached reads and writes with read_replica = memory vs off, same database, same run, bench/results/replica-latest.md.
#
# One database of REPLICA_USERS users (1,000,000; each with 2 posts and 2 items) is populated once.
# Then, REPLICA_ROUNDS times, a server with read_replica = off and one with read_replica = memory are
# started in turn on that file (never both at once: each would see the other's writes as foreign
# commits) and measured with the same workloads:
#   point   CALL getUserById k, k uniform over every user, the cache off (every read runs on SQLite)
#   json    CALL getUsersWithPosts [k..k+9] (a JSON aggregation over posts), the cache off
#   write   single-row INSERTs from REPLICA_CONNECTIONS connections (group commit), the cache on
# The report gives each figure's median over the rounds and the ratio memory / off, and the time the
# replica took to copy the database at start-up.
#
# Environment: REPLICA_USERS (1000000), REPLICA_DURATION (5) seconds per run, REPLICA_ROUNDS (3),
# REPLICA_CONNECTIONS (16) for reads, 50 for writes, REPLICA_THREADS (2), REPLICA_OUT
# (bench/results/replica-latest.md), REPLICA_DB (a populated database to reuse instead of a fresh one;
# it is written to).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

USERS=${REPLICA_USERS:-1000000}
DUR=${REPLICA_DURATION:-5}
ROUNDS=${REPLICA_ROUNDS:-3}
CONNS=${REPLICA_CONNECTIONS:-16}
THREADS=${REPLICA_THREADS:-2}
OUT=${REPLICA_OUT:-$ROOT/bench/results/replica-latest.md}
mkdir -p "$(dirname "$OUT")"

make -s all

WORK=$(mktemp -d /tmp/litecached-replica.XXXXXX)
SERVER_PID=
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. bench/lib.sh

DB=${REPLICA_DB:-$WORK/data.db}
PORT=

STARTED=
start_server() {   # log name, extra args...: sets PORT, SERVER_PID and STARTED (seconds until it accepted)
    local name=$1
    shift
    PORT=$(free_port)
    local t0
    t0=$(date +%s.%N)
    ./litecached --port "$PORT" --db_path "$DB" --workers 2 --http_port 0 --replica_max_bytes 8g "$@" \
        >>"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_port "$PORT" "$SERVER_PID" 3000; then
        echo "replica.sh: litecached did not start:" >&2
        cat "$WORK/$name.log" >&2
        exit 1
    fi
    STARTED=$(/usr/bin/python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$(date +%s.%N)")
}

bench() {   # result file, args...
    local out=$1
    shift
    ./litecached-bench --port "$PORT" --threads "$THREADS" --no-progress --warmup 1 --duration "$DUR" "$@" --json >"$out"
}

replica_status() {   # file: REPLICA STATUS of the running server
    printf 'REPLICA STATUS\nQUIT\n' | /usr/bin/python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
data = b""
while b"+BYE" not in data:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode(), end="")' "$PORT" >"$1"
}

if [ -z "${REPLICA_DB:-}" ]; then
    start_server populate
    echo "replica.sh: populating $USERS users into $DB"
    ./litecached-bench --port "$PORT" --no-progress --populate "$USERS" --json >"$WORK/populate.json"
    # bench_w is created now: a CREATE TABLE during a measured run would rebuild the replica.
    bench "$WORK/warm-write.json" write --connections 4 --duration 1 --warmup 0 >/dev/null
    stop_server
fi
ls -l "$DB"

for round in $(seq 1 "$ROUNDS"); do
    for mode in off memory; do
        start_server "$mode" --read_replica "$mode" --cache_mode off
        echo "$STARTED" >"$WORK/start-$mode-$round.txt"
        echo "replica.sh: round $round, read_replica = $mode (accepting after ${STARTED}s)"
        bench "$WORK/point-$mode-$round.json" named --connections "$CONNS" --dist uniform --keys "$USERS"
        bench "$WORK/json-$mode-$round.json" named --connections "$CONNS" --dist uniform --keys $((USERS - 10)) \
            --query getUsersWithPosts --ids 10
        replica_status "$WORK/status-$mode-$round.txt"
        stop_server
        start_server "$mode-w" --read_replica "$mode"
        bench "$WORK/write-$mode-$round.json" write --connections 50
        replica_status "$WORK/wstatus-$mode-$round.txt"
        stop_server
    done
done

/usr/bin/python3 - "$WORK" "$ROUNDS" "$USERS" "$DB" "$OUT" "$DUR" "$CONNS" <<'EOF'
import json, os, statistics, sys
work, rounds, users, db, out, dur, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]

def load(name, mode, r):
    d = json.load(open(f"{work}/{name}-{mode}-{r}.json"))
    d = d[0] if isinstance(d, list) else d
    if d.get("errors", 0) + d.get("lost", 0):
        sys.exit(f"replica.sh: {name} {mode} round {r} had errors")
    return d

def med(xs):
    return statistics.median(xs)

rows = []
for name, what in (("point", f"uncached point reads (CALL getUserById, {conns} conns)"),
                   ("json", f"getUsersWithPosts, 10 ids (JSON aggregation, {conns} conns)"),
                   ("write", "single-row INSERTs, 50 conns (group commit)")):
    figs = {}
    for mode in ("off", "memory"):
        runs = [load(name, mode, r) for r in range(1, rounds + 1)]
        figs[mode] = (med([x["requests_per_s"] for x in runs]), med([x["latency_us"]["p50"] for x in runs]),
                      med([x["latency_us"]["p99"] for x in runs]), [round(x["requests_per_s"]) for x in runs])
    rows.append((what, figs))

def status(mode, r, kind="status"):
    st = {}
    for line in open(f"{work}/{kind}-{mode}-{r}.txt"):
        if line.startswith("="):
            k, v = line[1:].rstrip("\n").split("\t", 1)
            st[k] = v
    return st

starts = {m: [float(open(f"{work}/start-{m}-{r}.txt").read()) for r in range(1, rounds + 1)] for m in ("off", "memory")}
st = status("memory", rounds)
size = os.path.getsize(db)
with open(out, "w") as f:
    f.write("# read_replica = memory vs off\n\n")
    f.write(f"`make bench-replica`: {users:,} users (2 posts, 2 items each), database file {size / 2**20:,.0f} MiB; "
            f"{rounds} rounds, each server in turn on the same file, {dur} s per run after 1 s of warm-up; "
            "reads with `cache_mode = off`, so that every read runs on SQLite. Medians over the rounds "
            "(each round's figure in brackets). Client and server share one 2-core VM.\n\n")
    f.write("| workload | off req/s | memory req/s | memory / off | p50 µs off / memory | p99 µs off / memory |\n")
    f.write("|---|---|---|---|---|---|\n")
    for what, figs in rows:
        o, m = figs["off"], figs["memory"]
        f.write(f"| {what} | {o[0]:,.0f} {o[3]} | {m[0]:,.0f} {m[3]} | {m[0] / o[0]:.2f}× | "
                f"{o[1]:.0f} / {m[1]:.0f} | {o[2]:.0f} / {m[2]:.0f} |\n")
    f.write(f"\nStart-up until the port accepts (median): off {med(starts['off']):.2f} s, memory "
            f"{med(starts['memory']):.2f} s (the copy into memory). Replica size {int(st.get('replica_bytes', 0)) / 2**20:,.0f} MiB, "
            f"state `{st.get('replica')}`, rebuilds {st.get('replica_rebuilds')}.\n")
    ws = [status("memory", r, "wstatus") for r in range(1, rounds + 1)]
    ms = [float(w.get("replica_apply_ms", 0)) for w in ws]
    n = [int(w.get("replica_changesets_applied", 0)) for w in ws]
    f.write(f"\nDuring the write runs with the replica, the writer spent a median {med(ms):,.0f} ms of the "
            f"{float(dur) + 1:.0f} s making and applying {med(n):,.0f} changesets "
            f"({med([m * 1000 / max(k, 1) for m, k in zip(ms, n)]):.0f} µs each, "
            f"{med([m / 10 / (float(dur) + 1) for m in ms]):.1f}% of the run) ({[round(m) for m in ms]} ms).\n")
print(open(out).read())
EOF
