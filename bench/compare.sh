#!/usr/bin/env bash
# compare.sh - `make bench-compare`: litecached against Redis (cache hits) and PostgreSQL 15 (inserts), and against SQLite in-process, in one run.
#
# Installs redis-server, postgresql-15 and postgresql-client-15 with apt-get when missing, starts
# each server on a free port in a throwaway directory, measures, prints every pair with its ratio,
# writes bench/results/compare-latest.md, and stops every server it started (trap EXIT).
#
# Inserts also run as one pgbench script against both servers, with durable Redis SETs as a reference.
# Hits and inserts run twice: over loopback TCP, and over each server's Unix-domain socket (litecached's
# unix_socket_dir, Redis's unixsocket, PostgreSQL's socket directory), where the kernel does less a request.
#
# Environment: COMPARE_DURATION (10) seconds per measured run; COMPARE_USERS (100000) users for
# the uncached lookups; COMPARE_OUT (bench/results/compare-latest.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DUR=${COMPARE_DURATION:-10}
USERS=${COMPARE_USERS:-100000}
OUT=${COMPARE_OUT:-$ROOT/bench/results/compare-latest.md}
CONNS=50
KEYS=10000
VALUE=100
PGBIN=/usr/lib/postgresql/15/bin

# ---- dependencies -------------------------------------------------------------------------------
. bench/lib.sh
need_packages compare redis-server postgresql-15 postgresql-client-15
make -s all
mkdir -p "$(dirname "$OUT")"

# ---- servers --------------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/litecached-compare.XXXXXX)
chmod 755 "$WORK"   # the postgres user must reach its data directory below it
LC_PID=
REDIS_PID=
AOF_PID=
PG_STARTED=
cleanup() {
    set +e
    if [ -n "$LC_PID" ] && kill -0 "$LC_PID" 2>/dev/null; then
        kill -TERM "$LC_PID"
        wait "$LC_PID" 2>/dev/null
    fi
    for p in "$REDIS_PID" "$AOF_PID"; do
        if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p"
            wait "$p" 2>/dev/null
        fi
    done
    if [ -n "$PG_STARTED" ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LC_PORT=$(free_port)
# The PostgreSQL protocol may come on the line protocol's port or on a port of its own: if the
# server has a pg_port setting, give it one and probe that, else probe the main port.
LC_PG_PORT=$LC_PORT
LC_PG_ARGS=()
if ./litecached --help 2>&1 | grep -q -- '--pg_port'; then
    LC_PG_PORT=$(free_port)
    LC_PG_ARGS=(--pg_port "$LC_PG_PORT")
fi
# synchronous = full: an acknowledged insert is on disk, as with PostgreSQL's synchronous_commit = on.
mkdir -p "$WORK/sock"
LC_SOCK=$WORK/sock   # litecached's Unix-domain socket: $LC_SOCK/.s.PGSQL.$LC_PORT, as libpq names it
./litecached --port "$LC_PORT" --http_port 0 --db_path "$WORK/lc.db" --workers 2 --synchronous full "${LC_PG_ARGS[@]}" \
    --unix_socket_dir "$LC_SOCK" \
    >"$WORK/litecached.log" 2>&1 &
LC_PID=$!
wait_port "$LC_PORT" "$LC_PID" || { cat "$WORK/litecached.log" >&2; echo "compare: litecached did not start" >&2; exit 1; }

REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis"
REDIS_SOCK=$WORK/redis/redis.sock
(cd "$WORK/redis" && exec redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --unixsocket "$REDIS_SOCK" --unixsocketperm 700 --daemonize no --dir "$WORK/redis") >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
wait_port "$REDIS_PORT" "$REDIS_PID" || { cat "$WORK/redis.log" >&2; echo "compare: redis did not start" >&2; exit 1; }
# A durable Redis, the reference for the inserts: appendfsync always syncs its log once per pass of its event
# loop, before answering, so one fsync covers every SET of the pass (group commit, nothing else per write).
AOF_PORT=$(free_port)
mkdir -p "$WORK/redis-aof"
AOF_SOCK=$WORK/redis-aof/redis.sock
(cd "$WORK/redis-aof" && exec redis-server --port "$AOF_PORT" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync always --unixsocket "$AOF_SOCK" --unixsocketperm 700 --daemonize no --dir "$WORK/redis-aof") \
    >"$WORK/redis-aof.log" 2>&1 &
AOF_PID=$!
wait_port "$AOF_PORT" "$AOF_PID" || { cat "$WORK/redis-aof.log" >&2; echo "compare: redis (appendfsync always) did not start" >&2; exit 1; }

PG_PORT=$(free_port)
mkdir -p "$WORK/pg"
chown postgres: "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres >"$WORK/initdb.log" 2>&1 \
    || { cat "$WORK/initdb.log" >&2; exit 1; }
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w \
    -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c fsync=on -c max_connections=200" \
    start >/dev/null || { cat "$WORK/pg/log" >&2; echo "compare: postgres did not start" >&2; exit 1; }
PG_STARTED=1
PSQL=(psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
echo "compare: litecached :$LC_PORT (pid $LC_PID), redis :$REDIS_PORT (pid $REDIS_PID), postgres :$PG_PORT"

B=(./litecached-bench --no-progress --threads 2)
json() {   # file, key path (python expression on r)
    /usr/bin/python3 -c "import json, sys; r = json.load(open(sys.argv[1])); print($2)" "$1"
}
FAILED=0
bench() {   # output file, args...
    local out=$1
    shift
    echo "compare: litecached-bench $*" >&2
    if ! "${B[@]}" "$@" --json >"$out"; then
        FAILED=1
        echo "compare: that run reported errors" >&2
        /usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$out" 2>/dev/null || exit 1
    fi
}

# ---- 1. cache hits vs Redis GET, same value size ----------------------------------------------------
# t: TCP; u: each server's Unix-domain socket (litecached-bench takes a host starting with / as one).
for d in 1 16; do
    for t in t u; do
        lc_host=127.0.0.1 redis_host=127.0.0.1
        [ "$t" = u ] && lc_host=$LC_SOCK redis_host=$REDIS_SOCK
        bench "$WORK/lc_hit_${t}_d$d.json" hit --host "$lc_host" --port "$LC_PORT" --row-bytes "$VALUE" --keys "$KEYS" \
            --connections "$CONNS" --depth "$d" --duration "$DUR" --warmup 1
        bench "$WORK/redis_get_${t}_d$d.json" hit --protocol redis --host "$redis_host" --port "$REDIS_PORT" \
            --value-size "$VALUE" --keys "$KEYS" --connections "$CONNS" --depth "$d" --duration "$DUR" --warmup 1
    done
done

# ---- 2. single-row inserts vs PostgreSQL (pgbench), both durable at commit ---------------------------
# Both sides prepare the INSERT once per connection and send only its parameters, as applications
# do: litecached's PREPARE + CALL, pgbench's -M prepared. pgbench then runs the same script against
# litecached's PostgreSQL protocol too (one client for both sides), and durable Redis SETs of the same
# value are the reference: what a server that only logs and syncs each write reaches here.
"${PSQL[@]}" -c "CREATE TABLE bench_w(id bigserial PRIMARY KEY, k integer NOT NULL, v text NOT NULL)"
cat >"$WORK/insert.sql" <<EOF
\set k random(1, 1000000)
INSERT INTO bench_w(k, v) VALUES (:k, '$(printf "%${VALUE}s" "" | tr ' ' v)');
EOF
# pgbench_insert PORT HOST OUT: one durable insert run of pgbench (it must report its tps)
pgbench_insert() {
    echo "compare: pgbench -h $2 -p $1 -f insert.sql -M prepared -c $CONNS -j 2 -T $DUR" >&2
    pgbench -h "$2" -p "$1" -U postgres -n -f "$WORK/insert.sql" -M prepared -c "$CONNS" -j 2 -T "$DUR" \
        postgres >"$3" 2>&1 || { cat "$3" >&2; exit 1; }
    grep -q '^tps = ' "$3" || { cat "$3" >&2; echo "compare: cannot read pgbench's tps" >&2; exit 1; }
}
# Over TCP, then over the Unix-domain sockets (PostgreSQL's is in its -k directory, $WORK/pg).
for t in t u; do
    lc_host=127.0.0.1 pg_host=127.0.0.1 aof_host=127.0.0.1
    [ "$t" = u ] && lc_host=$LC_SOCK pg_host=$WORK/pg aof_host=$AOF_SOCK
    bench "$WORK/lc_write_$t.json" write --call --host "$lc_host" --port "$LC_PORT" --value-size "$VALUE" \
        --connections "$CONNS" --depth 1 --duration "$DUR" --warmup 1
    pgbench_insert "$PG_PORT" "$pg_host" "$WORK/pgbench_insert_$t.txt"
    pgbench_insert "$LC_PG_PORT" "$lc_host" "$WORK/pgbench_lc_insert_$t.txt"
    bench "$WORK/redis_set_$t.json" write --protocol redis --host "$aof_host" --port "$AOF_PORT" --value-size "$VALUE" \
        --connections "$CONNS" --depth 1 --duration "$DUR" --warmup 1
done

# ---- 3. uncached point lookups vs the same lookups in-process on SQLite -------------------------------
bench "$WORK/populate.json" --port "$LC_PORT" --populate "$USERS"
bench "$WORK/lc_miss.json" miss --port "$LC_PORT" --connections "$CONNS" --depth 1 --duration "$DUR" --warmup 1
bench "$WORK/lc_nocache.json" miss --nocache --port "$LC_PORT" --connections "$CONNS" --depth 1 --duration "$DUR" --warmup 1
bench "$WORK/inproc.json" inproc --db "$WORK/lc.db" --threads 2 --duration "$DUR" --warmup 1

# ---- 4. pgbench -S against litecached: needs the PostgreSQL protocol ----------------------------------
# Turns on by itself once psql can talk to litecached's port.
PGS_NOTE="litecached has no PostgreSQL protocol yet: skipped"
PGS_LC='' PGS_PG=''
if PGCONNECT_TIMEOUT=3 timeout 10 psql -X -h 127.0.0.1 -p "$LC_PG_PORT" -U postgres -d postgres -c 'select 1' \
    >/dev/null 2>&1; then
    PGS_NOTE=
    # A hot tenth of the accounts, the same statement: what a cache can do for a working set that
    # fits it (a 10 s run of the full -S touches only a fraction of the 1,000,000 keys even once).
    printf '\\set aid random(1, 100000)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n' >"$WORK/hot.sql"
    # Each measured run also records pgbench's CPU and the server's (PostgreSQL's: the postmaster's
    # reaped backends), per transaction in the report: what the 2 cores allow any server here.
    PG_MAIN=$(head -1 "$WORK/pg/data/postmaster.pid")
    for target in "$PG_PORT" "$LC_PG_PORT"; do
        spid=$LC_PID
        [ "$target" = "$PG_PORT" ] && spid=$PG_MAIN
        pgbench -h 127.0.0.1 -p "$target" -U postgres -i -s 10 -q postgres >"$WORK/pgbench_init_$target.txt" 2>&1 \
            || { cat "$WORK/pgbench_init_$target.txt" >&2; FAILED=1; continue; }
        # An unrecorded run first, as for the cache-off server below: a server that has not yet read
        # across the table runs it slower for a while (its page caches and mappings fill up), and
        # the cache-off server, started later on the same file, would otherwise be the only warm one.
        pgbench -h 127.0.0.1 -p "$target" -U postgres -n -S -M prepared -c 8 -j 2 -T "$DUR" postgres >/dev/null 2>&1 || true
        /usr/bin/python3 bench/cpu_run.py "$WORK/pgbench_S_$target.cpu" "$spid" \
            pgbench -h 127.0.0.1 -p "$target" -U postgres -n -S -M prepared -c 8 -j 2 -T "$DUR" postgres \
            >"$WORK/pgbench_S_$target.txt" 2>&1 || { cat "$WORK/pgbench_S_$target.txt" >&2; FAILED=1; continue; }
        for run in warm hot; do   # the first run warms both servers' caches; the second is measured
            /usr/bin/python3 bench/cpu_run.py "$WORK/pgbench_${run}_$target.cpu" "$spid" \
                pgbench -h 127.0.0.1 -p "$target" -U postgres -n -f "$WORK/hot.sql" -M prepared -c 8 -j 2 -T "$DUR" \
                postgres >"$WORK/pgbench_${run}_$target.txt" 2>&1 || { cat "$WORK/pgbench_${run}_$target.txt" >&2; FAILED=1; }
        done
    done
    # The same run against a second litecached on the same file with the cache off.
    OFF_PORT=$(free_port)
    ./litecached --port "$OFF_PORT" --http_port 0 --db_path "$WORK/lc.db" --workers 2 --cache_mode off \
        >"$WORK/litecached-off.log" 2>&1 &
    OFF_PID=$!
    if wait_port "$OFF_PORT" "$OFF_PID"; then
        pgbench -h 127.0.0.1 -p "$OFF_PORT" -U postgres -n -S -M prepared -c 8 -j 2 -T "$DUR" postgres >/dev/null 2>&1 || true
        /usr/bin/python3 bench/cpu_run.py "$WORK/pgbench_S_off.cpu" "$OFF_PID" \
            pgbench -h 127.0.0.1 -p "$OFF_PORT" -U postgres -n -S -M prepared -c 8 -j 2 -T "$DUR" postgres \
            >"$WORK/pgbench_S_off.txt" 2>&1 || { cat "$WORK/pgbench_S_off.txt" >&2; FAILED=1; }
        echo "compare: pgbench -S, cache off: $(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$WORK/pgbench_S_off.txt")" >&2
    fi
    kill "$OFF_PID" 2>/dev/null || true
    PGS_PG=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$WORK/pgbench_S_$PG_PORT.txt" 2>/dev/null)
    PGS_LC=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$WORK/pgbench_S_$LC_PG_PORT.txt" 2>/dev/null)
fi

# ---- report -------------------------------------------------------------------------------------------
LC_PG_PORT="$LC_PG_PORT" PG_PORT="$PG_PORT" /usr/bin/python3 - "$WORK" "$OUT" "$DUR" "$PGS_NOTE" "$PGS_LC" "$PGS_PG" <<'EOF'
import json, os, platform, re, sys, time
work, out, dur, pgs_note, pgs_lc, pgs_pg = sys.argv[1:]
J = lambda n: json.load(open(os.path.join(work, n + ".json")))

def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"

def us(v):
    return f"{v} µs" if v < 1000 else f"{v / 1000:.2f} ms"

L = ["# litecached compared\n",
     f"`make bench-compare` (bench/compare.sh), {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: {cpu()}, "
     f"{os.cpu_count()} cores, kernel {platform.release()}, load average {open('/proc/loadavg').read().split()[0]} "
     f"at the end. Every server and the client share this machine. {dur} s per measured run.\n",
     "| comparison | litecached | other | litecached / other |", "|---|---:|---:|---:|"]
console = []
CPU = []  # the CPU table, after the notes

def pair(what, a, b, unit, note_a="", note_b=""):
    ratio = a / b if b else float("nan")
    L.append(f"| {what} | {a:,.0f} {unit}{note_a} | {b:,.0f} {unit}{note_b} | **{ratio:.2f}×** |")
    console.append(f"{what:58} {a:>12,.0f} vs {b:>12,.0f} {unit:8} ratio {ratio:5.2f}")

OVER = {"t": "TCP", "u": "Unix socket"}
for d in (1, 16):
    for t in "tu":
        a, b = J(f"lc_hit_{t}_d{d}"), J(f"redis_get_{t}_d{d}")
        pair(f"cache hit vs Redis GET, 100 B, 50 conns, depth {d}, {OVER[t]}", a["requests_per_s"], b["requests_per_s"],
             "req/s", f" (p99 {us(a['latency_us']['p99'])})", f" (p99 {us(b['latency_us']['p99'])})")
pg_fail = []

def pgbench_run(name, who):
    """(tps, mean latency in ms or '?') of a pgbench insert run; its failed transactions noted in pg_fail."""
    txt = open(os.path.join(work, name + ".txt")).read()
    lat = re.search(r"^latency average = ([0-9.]+) ms", txt, re.M)
    failed = re.search(r"^number of failed transactions: ([0-9]+)", txt, re.M)
    if failed and failed.group(1) != "0":
        pg_fail.append(f"{failed.group(1)} by {who}")
    return float(re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", txt, re.M).group(1)), \
        lat.group(1) if lat else "?"

for t in "tu":
    w = J(f"lc_write_{t}")
    pg_tps, pg_lat = pgbench_run(f"pgbench_insert_{t}", f"PostgreSQL over {OVER[t]}")
    lc_tps, lc_lat = pgbench_run(f"pgbench_lc_insert_{t}", f"litecached over {OVER[t]}")
    r = J(f"redis_set_{t}")
    pair(f"single-row prepared INSERT vs PostgreSQL 15 (pgbench -M prepared), 50 conns, durable, {OVER[t]}",
         w["requests_per_s"], pg_tps, "rows/s", f" (p99 {us(w['latency_us']['p99'])})", f" (mean {pg_lat} ms)")
    pair(f"the same, both driven by pgbench -M prepared, {OVER[t]}", lc_tps, pg_tps, "rows/s",
         f" (mean {lc_lat} ms)", f" (mean {pg_lat} ms)")
    pair(f"reference, not litecached: Redis SET with appendfsync always vs those PostgreSQL inserts, {OVER[t]}",
         r["requests_per_s"], pg_tps, "SETs/s", f" (p99 {us(r['latency_us']['p99'])})", f" (mean {pg_lat} ms)")
m, n, i = J("lc_miss"), J("lc_nocache"), J("inproc")
pair("uncached point lookup (miss) vs SQLite in-process, 2 threads", m["queries_per_s"], i["queries_per_s"], "q/s")
pair("/*+ nocache */ point lookup vs SQLite in-process", n["queries_per_s"], i["queries_per_s"], "q/s")
if pgs_note:
    L.append(f"| pgbench -S | {pgs_note} | | |")
    console.append(f"pgbench -S: {pgs_note}")
elif pgs_lc and pgs_pg:
    pair("pgbench -S -M prepared -c 8 -j 2, scale 10, cache on", float(pgs_lc), float(pgs_pg), "tps")
    off = os.path.join(work, "pgbench_S_off.txt")
    if os.path.exists(off):
        m_off = re.search(r"^tps = ([0-9.]+) \(without", open(off).read(), re.M)
        if m_off:
            pair("pgbench -S -M prepared -c 8 -j 2, scale 10, cache off", float(m_off.group(1)), float(pgs_pg), "tps")
    hot = []
    for port in (os.environ["LC_PG_PORT"], os.environ["PG_PORT"]):
        f = os.path.join(work, f"pgbench_hot_{port}.txt")
        m_hot = re.search(r"^tps = ([0-9.]+) \(without", open(f).read(), re.M) if os.path.exists(f) else None
        hot.append(float(m_hot.group(1)) if m_hot else None)
    if None not in hot:
        pair("the same on a hot 10% of the accounts, after a warm-up run", hot[0], hot[1], "tps")

    def cpu_per_txn(name):
        """(pgbench µs, server µs) of CPU per transaction in run name, or None."""
        txt, cpu = os.path.join(work, name + ".txt"), os.path.join(work, name + ".cpu")
        if not (os.path.exists(txt) and os.path.exists(cpu)):
            return None
        n = re.search(r"^number of transactions actually processed: (\d+)", open(txt).read(), re.M)
        if not n or int(n.group(1)) == 0:
            return None
        client, server = (float(x) for x in open(cpu).read().split())
        return 1e6 * client / int(n.group(1)), 1e6 * server / int(n.group(1))

    lc_port, pg_port = os.environ["LC_PG_PORT"], os.environ["PG_PORT"]
    runs = [("pgbench -S, PostgreSQL 15", f"pgbench_S_{pg_port}"), ("pgbench -S, litecached, cache on", f"pgbench_S_{lc_port}"),
            ("pgbench -S, litecached, cache off", "pgbench_S_off"), ("hot 10%, PostgreSQL 15", f"pgbench_hot_{pg_port}"),
            ("hot 10%, litecached (cache hits)", f"pgbench_hot_{lc_port}")]
    seen = [(what, cpu_per_txn(name)) for what, name in runs]
    seen = [(what, c) for what, c in seen if c]
    if seen:
        CPU.append("")
        CPU.append("CPU per pgbench transaction (user + system, from the kernel's accounting; the two cores are "
                   "shared by pgbench and the server):\n")
        CPU.append("| run | pgbench µs | server µs |")
        CPU.append("|---|---:|---:|")
        for what, (c, sv) in seen:
            CPU.append(f"| {what} | {c:.1f} | {sv:.1f} |")
        floor = min(c for _, (c, _) in seen)
        ceiling = os.cpu_count() * 1e6 / floor
        CPU.append("")
        CPU.append(f"pgbench alone needs at least {floor:.1f} µs of CPU per transaction, so on {os.cpu_count()} cores "
                   f"no server can be driven past {ceiling:,.0f} tps by it, even one that costs nothing: "
                   f"**{ceiling / float(pgs_pg):.2f}×** PostgreSQL's -S run here.")
        console.append(f"pgbench's own CPU: {floor:.1f} µs a transaction: at most {ceiling:,.0f} tps on this machine "
                       f"({ceiling / float(pgs_pg):.2f}x PostgreSQL)")
else:
    L.append("| pgbench -S | failed (see the log above) | | |")
    console.append("pgbench -S: failed")
pop = J("populate")["populate"]
L.append("")
L.append(f"- hits: `litecached-bench hit --row-bytes 100` reads `SELECT v FROM bench_kv WHERE id = k` (a 100-byte "
         f"value) from a warmed set of 10,000 keys; Redis: `GET key:k` of 100-byte values, the same client, "
         f"`--protocol redis`. Hit ratio seen by litecached: "
         + ", ".join(f"depth {d}, {OVER[t]}: " + ("n/a" if J(f'lc_hit_{t}_d{d}')['hit_ratio'] is None else
                                       f"{100 * J(f'lc_hit_{t}_d{d}')['hit_ratio']:.1f}%") for d in (1, 16) for t in "tu") + ".")
L.append("- inserts: litecached with `--synchronous full` (the WAL is synced before the acknowledgement, group "
         "commit shares syncs); PostgreSQL 15 with synchronous_commit = on, fsync = on; both insert "
         "`(k, 'v' x 100)` into a table with an integer primary key, one insert per request/transaction"
         + (f"; pgbench reported failed transactions: {', '.join(pg_fail)}" if pg_fail else "") + ". "
         "Redis (the reference row): `SET w:k` of a 100-byte value with appendonly yes, appendfsync always, which "
         "syncs its log once per pass of its event loop, so one fsync covers every SET of the pass.")
L.append(f"- uncached lookups: `SELECT * FROM users WHERE id = k` over {pop['users']:,} populated users; `miss` "
         "makes every statement unique so each is a real cache miss (lookup, SQLite, store), `--nocache` "
         "bypasses the cache; in-process: the same lookups through one prepared statement per thread.")
L.append(f"- litecached-bench latency, miss: p50 {us(m['latency_us']['p50'])}, p99 {us(m['latency_us']['p99'])}; "
         f"in-process: p50 {us(i['latency_us']['p50'])}, p99 {us(i['latency_us']['p99'])}.")
open(out, "w").write("\n".join(L + CPU) + "\n")
print("\n".join(console))
print(f"compare: report written to {out}")
EOF
if [ "$FAILED" != 0 ]; then
    echo "compare: some runs reported errors" >&2
    exit 1
fi
