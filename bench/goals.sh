#!/usr/bin/env bash
# goals.sh - `make bench-goals`: the performance goals of the issues that need only litecached, side by side in one run.
# Starts throwaway servers on one populated database (cache on; cache off; cache on as plain LRU; two for durable writes), times the
# populate, runs each pair of workloads back to back GOALS_ROUNDS times (interleaved, the order rotating each
# round, so all sides see the same noise) and prints the medians and their ratios. The hit and durable-insert pairs run over loopback TCP and
# again over the servers' Unix-domain sockets (unix_socket_dir), where the kernel does less a request. Redis GETs
# run in the hit rounds as a reference (what a server that does next to nothing per request reaches here), durable
# Redis SETs (appendfsync always) in the insert rounds as another, and each run also records its server's CPU per request (bench/cpu_run.py), which is steadier than a rate on a shared machine.
# GOALS_DURATION (5) s per run, GOALS_USERS (1000000), GOALS_ROUNDS (3); GOALS_REDIS=0 leaves Redis out (the tests run
# the script that way, small, on machines without it); GOALS_CALLGRIND=0 leaves out the miss's instruction count.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${GOALS_DURATION:-5}
USERS=${GOALS_USERS:-1000000}
ROUNDS=${GOALS_ROUNDS:-3}
WITH_REDIS=${GOALS_REDIS:-1}
WORK=$(mktemp -d /tmp/lc-goals.XXXXXX)
PIDS=()
declare -A PORT_PID   # port -> pid of the server listening on it
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
. bench/lib.sh
[ "$WITH_REDIS" = 0 ] || need_packages goals redis-server   # the reference for what a request costs here
SOCK=$WORK/sock   # every server's Unix-domain socket: $SOCK/.s.PGSQL.<port>
mkdir -p "$SOCK"
PORT=
start() {   # name, args... -> PORT (not in a subshell: PIDS must reach the cleanup trap)
    local name=$1
    shift
    PORT=$(free_port)
    ./litecached --port "$PORT" --http_port 0 --workers 2 --unix_socket_dir "$SOCK" "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    PORT_PID[$PORT]=$!
    for _ in $(seq 100); do (echo PING | nc -q1 127.0.0.1 "$PORT" 2>/dev/null | grep -q PONG) && break; sleep 0.1; done
}
B=(./litecached-bench --no-progress --threads 2 --json --warmup 1 --duration "$DUR")
val() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); r=r[0] if isinstance(r,list) else r; print(r[sys.argv[2]])" "$1" "$2"; }
# run NAME args...: one run, its queries/s appended to $WORK/NAME.qps, and the server's CPU seconds per
# request to $WORK/NAME.cpu (the server: the process listening on the run's --port)
run() {
    local out=$1 pid watch=()
    shift
    pid=$(server_pid "$@")
    # (each run its own files: two of them may run at the same time)
    [ -z "$pid" ] || watch=(/usr/bin/python3 bench/cpu_run.py "$WORK/$out.used" "$pid")
    echo "goals: litecached-bench $*" >&2
    "${watch[@]}" "${B[@]}" "$@" >"$WORK/$out.json"
    val "$WORK/$out.json" queries_per_s >>"$WORK/$out.qps"
    # completed: every request of the run, the warm-up's too, as the CPU figure covers both
    [ -z "$pid" ] || /usr/bin/python3 -c "import sys; print(float(open(sys.argv[1]).read().split()[1]) / int(sys.argv[2]))" \
        "$WORK/$out.used" "$(val "$WORK/$out.json" completed)" >>"$WORK/$out.cpu"
}
# The pid of the server the run's --port names; nothing for a run without one (inproc).
server_pid() { while [ $# -gt 1 ] && [ "$1" != --port ]; do shift; done; [ $# -lt 2 ] || echo "${PORT_PID[$2]}"; }
# pair NAME "args" [NAME "args"]...: ROUNDS rounds, each running every one once (interleaved), round r starting
# at the r-th one: a side that always ran first (or right after a given other) would carry that place's luck
pair() {
    local a r
    for r in $(seq 0 $((ROUNDS - 1))); do
        a=("${@:2*(r%($#/2))+1}" "${@:1:2*(r%($#/2))}")
        while [ ${#a[@]} -gt 1 ]; do
            [ -z "${a[0]}" ] || run "${a[0]}" ${a[1]}
            a=("${a[@]:2}")
        done
    done
}

start on --db_path "$WORK/data.db"; ON=$PORT
echo "goals: litecached-bench --populate $USERS" >&2
./litecached-bench --no-progress --json --port "$ON" --populate "$USERS" >"$WORK/populate.json"
POP_S=$(/usr/bin/python3 -c "import json,sys; print(f\"{json.load(open(sys.argv[1]))['populate']['seconds']:.2f}\")" "$WORK/populate.json")
start off --db_path "$WORK/data.db" --cache_mode off; OFF=$PORT
# Plain LRU: every miss is stored, and once the cache is full each one evicts (the default, repeat, stores a
# full cache's miss only when its key comes back: the goal's never-repeated misses are then answered, not stored).
start lru --db_path "$WORK/data.db" --cache_admission always; LRU=$PORT
start sync --db_path "$WORK/w1.db" --synchronous full; SYNC=$PORT
start nogc --db_path "$WORK/w2.db" --synchronous full --group_commit_max 1; NOGC=$PORT
# Redis, as the reference for the hit pair: a GET costs Redis next to nothing beyond reading the request and
# writing the reply, so Redis GETs/s here is about the most any server can answer of this shape on this machine.
REDIS=0 RG='' RG_U='' AOF=0 RA='' RA_U=''   # the Redis runs' names: empty, and pair skips them, without Redis
if [ "$WITH_REDIS" != 0 ]; then
    REDIS=$(free_port) RG=redis_get RG_U=redis_get_u
    mkdir -p "$WORK/redis"
    (cd "$WORK/redis" && exec redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no \
        --unixsocket "$WORK/redis/redis.sock" --unixsocketperm 700 --daemonize no) >"$WORK/redis.log" 2>&1 &
    PIDS+=($!)
    PORT_PID[$REDIS]=$!
    wait_port "$REDIS" "$!" || { cat "$WORK/redis.log" >&2; echo "goals: redis did not start" >&2; exit 1; }
    # And a durable one, as the reference for the insert pairs: appendfsync always syncs its log once per pass of
    # its event loop, before answering, so one fsync covers every SET of the pass: group commit with nothing
    # else to do per write.
    AOF=$(free_port) RA=redis_set RA_U=redis_set_u
    mkdir -p "$WORK/redis-aof"
    (cd "$WORK/redis-aof" && exec redis-server --port "$AOF" --bind 127.0.0.1 --save '' --appendonly yes \
        --appendfsync always --unixsocket "$WORK/redis-aof/redis.sock" --unixsocketperm 700 --daemonize no) \
        >"$WORK/redis-aof.log" 2>&1 &
    PIDS+=($!)
    PORT_PID[$AOF]=$!
    wait_port "$AOF" "$!" || { cat "$WORK/redis-aof.log" >&2; echo "goals: redis (appendfsync always) did not start" >&2; exit 1; }
fi
# A value of the size of a hit's whole reply (the users row with its header and status lines, 227-234 bytes).
RGET="hit --protocol redis --value-size 230 --connections 50 --depth 16"

pair batch_on  "batch --port $ON --sizes 100 --connections 4" batch_off "batch --port $OFF --sizes 100 --connections 4 --call"
pair inproc    "inproc --db $WORK/data.db"
pair hit_on    "hit --port $ON --call --connections 50 --depth 16" hit_off "hit --port $OFF --call --connections 50 --depth 16" \
     "$RG" "$RGET --port $REDIS"
# --call misses PREPARE a salted lookup per connection: never a hit, whatever ran before (bench/README.md).
# They read all over the users table, and a server that has not done so yet runs them slower for tens of
# seconds (its connections' SQLite page caches and its mappings of the file fill up): two identical cache-off
# servers differed by up to 26% until both had. So each server first runs them twice, unrecorded.
for p in "$ON" "$OFF" "$LRU" "$ON" "$OFF" "$LRU"; do
    "${B[@]}" miss --port "$p" --call --connections 50 >/dev/null
done
pair miss_on   "miss --port $ON --call --connections 50" miss_off "miss --port $OFF --call --connections 50" \
     miss_lru  "miss --port $LRU --call --connections 50"
# The same misses with both servers measured at the same time, each by a load generator of its own (25
# connections, one thread), so that both see the same moments of this shared machine. Interleaved runs
# cannot promise that: the whole VM slows down for seconds at a time, and two runs of one build gave a
# miss 0.96x and 1.35x the CPU of a cache-off read; side by side, two identical servers differ by
# 0.99-1.10x. Twice as many rounds, as each is half as long a wait; the side started first alternates.
for r in $(seq 0 $((2 * ROUNDS - 1))); do
    a=(miss_on_s "miss --port $ON --call --connections 25 --threads 1")
    b=(miss_off_s "miss --port $OFF --call --connections 25 --threads 1")
    [ $((r % 2)) = 0 ] || { t=("${a[@]}"); a=("${b[@]}"); b=("${t[@]}"); }
    run "${a[0]}" ${a[1]} &
    side=$!
    run "${b[0]}" ${b[1]}
    wait "$side"
done
RSET="write --protocol redis --connections 50"   # SETs of a 100-byte value, as the inserts carry
pair write_gc  "write --port $SYNC --connections 50 --call" write_1 "write --port $NOGC --connections 50 --call" \
     "$RA" "$RSET --port $AOF"
U="--host $SOCK"
pair hit_on_u   "hit $U --port $ON --call --connections 50 --depth 16" hit_off_u "hit $U --port $OFF --call --connections 50 --depth 16" \
     "$RG_U" "$RGET --host $WORK/redis/redis.sock --port $REDIS"
pair write_gc_u "write $U --port $SYNC --connections 50 --call" write_1_u "write $U --port $NOGC --connections 50 --call" \
     "$RA_U" "$RSET --host $WORK/redis-aof/redis.sock --port $AOF"

# A miss's instructions, cache on vs off (bench/miss_instr.sh): one count, as a second would give the same. Its
# servers run under valgrind, after every timed run, so they slow down none.
if [ "${GOALS_CALLGRIND:-1}" != 0 ]; then
    echo "goals: bench/miss_instr.sh" >&2
    MI=$(bench/miss_instr.sh)
    read -r MI_ON MI_OFF <<<"$MI"
fi

q() { /usr/bin/python3 -c "import statistics,sys; print(round(statistics.median(float(x) for x in open(sys.argv[1]))))" "$WORK/$1.qps"; }
# cpu NAME: the median of the server's CPU per request over the rounds, in µs
cpu() { /usr/bin/python3 -c "import statistics,sys; print(f'{1e6 * statistics.median(float(x) for x in open(sys.argv[1])):.2f}')" "$WORK/$1.cpu"; }
ratio() { /usr/bin/python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
# rounds A B: the ratio of each side's i-th run, to show the spread beside the median (within a pair the two
# runs alternate, so these ran back to back; in-process SQLite runs after the batch pair, in its own rounds)
# (rounds A B cpu: the same for the server's CPU per request)
rounds() { /usr/bin/python3 -c "import sys; a, b = ([float(x) for x in open(f)] for f in sys.argv[1:]); print(', '.join(f'{x / y:.2f}' for x, y in zip(a, b)))" "$WORK/$1.${3:-qps}" "$WORK/$2.${3:-qps}"; }
# cells A B [cpu]: a row's measured | against | ratio | each round, from the rates (or the CPU per request)
cells() {
    local m=q
    [ "${3:-}" != cpu ] || m=cpu
    echo "$($m "$1") | $($m "$2") | $(ratio "$($m "$1")" "$($m "$2")") | $(rounds "$1" "$2" "${3:-qps}")"
}
# ref NAME VS: the reference row's cells, or a note when Redis was left out
ref() { if [ -n "$1" ]; then cells "$1" "$2"; else echo "left out (GOALS_REDIS=0) | | |"; fi; }
cat <<REPORT
| goal | measured | against | ratio | each round |
|---|---:|---:|---:|---:|
| --populate $USERS users with their items and posts, seconds (goal: well under 60 at 1,000,000) | $POP_S | | | |
| batch of 100 cached point lookups (queries/s, goal 1,000,000) | $(q batch_on) | | | |
| uncached batch of 100 (CALL, cache off) vs in-process SQLite (goal ≥ 0.70) | $(cells batch_off inproc) |
| hits vs uncached primary-key reads, depth 16 (goal ≥ 5) | $(cells hit_on hit_off) |
| reference: Redis GETs of a 230-byte value, the same 50 connections at depth 16, vs those uncached reads: the ratio a server that did as little per request as Redis would reach | $(ref "$RG" hit_off) |
| the server's CPU per request, µs: uncached read vs hit | $(cells hit_off hit_on cpu) |
| misses vs the same reads with the cache off (goal ≥ 0.91: at most 10% dearer) | $(cells miss_on miss_off) |
| the server's CPU per request, µs: miss vs the same read with the cache off (goal ≤ 1.10) | $(cells miss_on miss_off cpu) |
| the server's CPU per request, µs: miss vs cache off, both servers measured at the same time, 25 connections each (goal ≤ 1.10) | $(cells miss_on_s miss_off_s cpu) |
| the same side by side, queries/s | $(cells miss_on_s miss_off_s) |
| a miss's user-space instructions vs the same read's with the cache off (callgrind: repeatable to 0.1%, and a lower bound: it leaves out the CPU caches' misses) | $(if [ -n "${MI_ON:-}" ]; then echo "$MI_ON | $MI_OFF | $(ratio "$MI_ON" "$MI_OFF") | one count"; else echo "left out (GOALS_CALLGRIND=0) | | |"; fi) |
| the same misses with cache_admission = always (each stored, evicting once the cache is full) vs cache off | $(cells miss_lru miss_off) |
| the server's CPU per request, µs: such a miss vs the read with the cache off | $(cells miss_lru miss_off cpu) |
| durable single-row inserts, 50 connections: group commit vs one commit each (goal ≥ 10) | $(cells write_gc write_1) |
| reference: Redis SETs with appendfsync always (one fsync per event-loop pass), the same 50 connections, vs one commit each: the ratio a server that did nothing per write but log it and sync would reach | $(ref "$RA" write_1) |
| reference: the same durable inserts, group commit vs those Redis SETs | $(if [ -n "$RA" ]; then cells write_gc "$RA"; else echo "left out (GOALS_REDIS=0) | | |"; fi) |
| the same hits vs uncached reads, over the Unix-domain socket | $(cells hit_on_u hit_off_u) |
| reference over the Unix-domain socket: Redis GETs vs those uncached reads | $(ref "$RG_U" hit_off_u) |
| the same durable inserts, over the Unix-domain socket | $(cells write_gc_u write_1_u) |
| reference over the Unix-domain socket: Redis SETs with appendfsync always vs one commit each | $(ref "$RA_U" write_1_u) |
REPORT
echo "(medians of $ROUNDS interleaved runs ($((2 * ROUNDS)) side by side), and each round's own ratio; $(nproc) cores, $(uptime | sed 's/.*load average/load average/'), $DUR s per run, $USERS users)"
