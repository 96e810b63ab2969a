/* bench.c - litecached-bench: options, the run of each workload, STATS before/after, and the report. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "engine.h"
#include "inproc.h"
#include "report.h"
#include "svg.h"
#include "wl.h"

#define MAX_LIST 32

typedef struct options {
    const char *host;
    int         port, threads, connections, depth;
    double      duration, warmup;
    uint64_t    requests, populate, keys, seed;
    int         json, csv, progress, nocache, call, populate_conns, row_bytes, value_size, redis;
    const char *plot, *db, *query;
    int         ids;
    int         zipf;
    double      zipf_s;
    double      ratios[MAX_LIST];
    int         nratios;
    int         sizes[MAX_LIST];
    int         nsizes;
    wl_kind     kind;
} options;

static void usage(FILE *f)
{
    fputs("usage: litecached-bench [WORKLOAD] [options]\n"
          "workloads:\n"
          "  hit      point lookups of a warmed key set: every read is a cache hit\n"
          "  miss     point lookups never repeated: every read is a cache miss\n"
          "  mixed    a fraction --hit-ratio R of the lookups from the warmed set, the rest never repeated\n"
          "  write    single-row INSERTs into bench_w, one per request\n"
          "  named    CALL getUserById <k> (--query NAME calls another; --ids N passes [k,...,k+N-1])\n"
          "  batch    BATCH <n> of n point lookups, for each n in --sizes\n"
          "  inproc   the same point lookups straight on SQLite in this process (--db FILE; no server)\n"
          "options:\n"
          "  --host H (127.0.0.1; a /path: Unix-domain socket)  --port P (5433)  --protocol line|redis (line)\n"
          "  --threads N (2)  --connections N (50, in total)  --depth N (1, requests in flight per connection)\n"
          "  --duration S (10)  --requests N (measure N requests instead)  --warmup S (1)\n"
          "  --keys K (10000, the hot set)  --dist zipf|uniform (zipf)  --zipf-s S (0.99)  --seed N (1)\n"
          "  --hit-ratio R[,R...] (0.9; mixed runs each)  --sizes N[,N...] (1,5,10,20,50,100,200,500,1000)\n"
          "  --row-bytes B (read bench_kv with B-byte values instead of users)  --value-size B (100)\n"
          "  --nocache (the /*+ nocache */ hint on every read)  --populate N (create N users first)\n"
          "  --call (point lookups as CALL getUserById k: one prepared statement, like --protocol's peers)\n"
          "  --populate-connections N (4)  --db FILE (inproc)\n"
          "  --json | --csv  --plot FILE.svg (batch, or mixed with a list of ratios)  --no-progress\n"
          "Exit status: 0 ok, 1 errors during the run (-ERR replies, connection failures), 2 bad usage.\n", f);
}

static int parse_list(const char *s, double *out, int max)
{
    int n = 0;
    char *end;
    while (*s && n < max) {
        out[n++] = strtod(s, &end);
        if (end == s)
            return -1;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static void die_usage(const char *msg)
{
    fprintf(stderr, "litecached-bench: %s\n", msg);
    usage(stderr);
    exit(2);
}

static void parse(int argc, char **argv, options *o)
{
    *o = (options){ .host = "127.0.0.1", .port = 5433, .threads = 2, .connections = 50, .depth = 1,
                    .duration = 10, .warmup = 1, .keys = 10000, .seed = 1, .progress = isatty(1),
                    .populate_conns = 4, .value_size = 100, .zipf = 1, .zipf_s = 0.99,
                    .ratios = { 0.9 }, .nratios = 1,
                    .sizes = { 1, 5, 10, 20, 50, 100, 200, 500, 1000 }, .nsizes = 9, .kind = WL_NONE };
    enum { O_HOST = 256, O_PORT, O_THREADS, O_CONNS, O_DEPTH, O_DURATION, O_REQUESTS, O_WARMUP, O_JSON, O_CSV,
           O_PLOT, O_POPULATE, O_KEYS, O_RATIO, O_DIST, O_ZIPFS, O_SIZES, O_VALUE, O_ROW, O_PROTO, O_DB,
           O_NOCACHE, O_CALL, O_SEED, O_POPCONNS, O_NOPROG, O_QUERY, O_IDS, O_HELP };
    static const struct option longs[] = {
        { "host", 1, 0, O_HOST }, { "port", 1, 0, O_PORT }, { "threads", 1, 0, O_THREADS },
        { "connections", 1, 0, O_CONNS }, { "depth", 1, 0, O_DEPTH }, { "duration", 1, 0, O_DURATION },
        { "requests", 1, 0, O_REQUESTS }, { "warmup", 1, 0, O_WARMUP }, { "json", 0, 0, O_JSON },
        { "csv", 0, 0, O_CSV }, { "plot", 1, 0, O_PLOT }, { "populate", 1, 0, O_POPULATE },
        { "keys", 1, 0, O_KEYS }, { "hit-ratio", 1, 0, O_RATIO }, { "dist", 1, 0, O_DIST },
        { "zipf-s", 1, 0, O_ZIPFS }, { "sizes", 1, 0, O_SIZES }, { "value-size", 1, 0, O_VALUE },
        { "row-bytes", 1, 0, O_ROW }, { "protocol", 1, 0, O_PROTO }, { "db", 1, 0, O_DB },
        { "nocache", 0, 0, O_NOCACHE }, { "call", 0, 0, O_CALL }, { "seed", 1, 0, O_SEED }, { "populate-connections", 1, 0, O_POPCONNS },
        { "no-progress", 0, 0, O_NOPROG }, { "query", 1, 0, O_QUERY }, { "ids", 1, 0, O_IDS },
        { "help", 0, 0, O_HELP }, { 0, 0, 0, 0 }
    };
    int ch;
    double list[MAX_LIST];
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case O_HOST: o->host = optarg; break;
        case O_PORT: o->port = atoi(optarg); break;
        case O_THREADS: o->threads = atoi(optarg); break;
        case O_CONNS: o->connections = atoi(optarg); break;
        case O_DEPTH: o->depth = atoi(optarg); break;
        case O_DURATION: o->duration = atof(optarg); break;
        case O_REQUESTS: o->requests = strtoull(optarg, NULL, 10); break;
        case O_WARMUP: o->warmup = atof(optarg); break;
        case O_JSON: o->json = 1; break;
        case O_CSV: o->csv = 1; break;
        case O_PLOT: o->plot = optarg; break;
        case O_POPULATE: o->populate = strtoull(optarg, NULL, 10); break;
        case O_KEYS: o->keys = strtoull(optarg, NULL, 10); break;
        case O_RATIO:
            o->nratios = parse_list(optarg, o->ratios, MAX_LIST);
            if (o->nratios < 1)
                die_usage("--hit-ratio takes numbers in 0..1, comma separated");
            for (int i = 0; i < o->nratios; i++)
                if (o->ratios[i] < 0 || o->ratios[i] > 1)
                    die_usage("--hit-ratio takes numbers in 0..1");
            break;
        case O_DIST:
            if (strcmp(optarg, "zipf") == 0)
                o->zipf = 1;
            else if (strcmp(optarg, "uniform") == 0)
                o->zipf = 0;
            else
                die_usage("--dist is zipf or uniform");
            break;
        case O_ZIPFS: o->zipf_s = atof(optarg); break;
        case O_SIZES:
            o->nsizes = parse_list(optarg, list, MAX_LIST);
            if (o->nsizes < 1)
                die_usage("--sizes takes batch sizes, comma separated");
            for (int i = 0; i < o->nsizes; i++) {
                o->sizes[i] = (int)list[i];
                if (o->sizes[i] < 1 || o->sizes[i] > 10000)
                    die_usage("a batch size is 1..10000");
            }
            break;
        case O_VALUE: o->value_size = atoi(optarg); break;
        case O_ROW: o->row_bytes = atoi(optarg); break;
        case O_PROTO:
            if (strcmp(optarg, "redis") == 0)
                o->redis = 1;
            else if (strcmp(optarg, "line") != 0)
                die_usage("--protocol is line or redis");
            break;
        case O_DB: o->db = optarg; break;
        case O_NOCACHE: o->nocache = 1; break;
        case O_CALL: o->call = 1; break;
        case O_SEED: o->seed = strtoull(optarg, NULL, 10); break;
        case O_POPCONNS: o->populate_conns = atoi(optarg); break;
        case O_NOPROG: o->progress = 0; break;
        case O_QUERY: o->query = optarg; break;
        case O_IDS: o->ids = atoi(optarg); break;
        case O_HELP: case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        o->kind = wl_parse(argv[optind]);
        if (o->kind == WL_NONE) {
            fprintf(stderr, "litecached-bench: unknown workload '%s'\n", argv[optind]);
            usage(stderr);
            exit(2);
        }
        if (optind + 1 < argc)
            die_usage("one workload per run");
    }
    if (o->kind == WL_NONE && o->populate == 0)
        die_usage("name a workload (or --populate N)");
    if (o->threads < 1 || o->connections < 1 || o->depth < 1 || o->port < 1 || o->port > 65535)
        die_usage("--threads, --connections, --depth and --port must be positive");
    if (o->requests == 0 && o->duration <= 0)
        die_usage("--duration must be positive (or give --requests)");
    if (o->keys < 1 || o->value_size < 1 || o->value_size > 1000000 || o->row_bytes < 0 || o->row_bytes > 1000000)
        die_usage("--keys, --value-size and --row-bytes must be sensible");
    if (o->json && o->csv)
        die_usage("--json or --csv, not both");
    if (o->plot && o->kind != WL_BATCH && !(o->kind == WL_MIXED && o->nratios > 1))
        die_usage("--plot draws the batch workload, or mixed with a list of --hit-ratio values");
    if (o->kind == WL_INPROC && !o->db)
        die_usage("inproc needs --db FILE");
    if (o->json || o->csv)
        o->progress = 0;
}

/* ---- live progress ------------------------------------------------------------------------ */

typedef struct progress {
    ctl     *stats;   /* NULL: no hit ratio (redis) */
    int64_t  hits, misses;
} progress;

static void on_tick(void *ud, const eng_tick *t)
{
    progress *p = ud;
    char hr[32] = "";
    if (p->stats) {
        ctl_stats st;
        if (ctl_stats_get(p->stats, &st) == 0) {
            int64_t h = ctl_stat(&st, "cache_hits"), m = ctl_stat(&st, "cache_misses");
            if (h >= 0 && m >= 0) {
                if (p->hits >= 0 && (h - p->hits) + (m - p->misses) > 0)
                    snprintf(hr, sizeof hr, "  hits %5.1f%%", 100.0 * (double)(h - p->hits) /
                             (double)((h - p->hits) + (m - p->misses)));
                p->hits = h;
                p->misses = m;
            }
        }
    }
    char p99[16];
    printf("\r\033[K%6.1fs %-9s %10.0f req/s  p99 %-8s%s%s", t->elapsed, t->measuring ? "measuring" : "warm-up",
           t->rps, report_fmt_us(t->p99_us, p99, sizeof p99), hr, t->errors ? "  ERRORS" : "");
    fflush(stdout);
}

/* ---- one measured run ---------------------------------------------------------------------- */

static int64_t delta(const ctl_stats *a, const ctl_stats *b, const char *name)
{
    int64_t x = ctl_stat(a, name), y = ctl_stat(b, name);
    return x >= 0 && y >= 0 ? y - x : -1;
}

static int run_one(const options *o, wl_opts *w, ctl *stats, double param, report_row *row, char *err, size_t errlen)
{
    ctl_counts before_sent = ctl_sent;
    ctl setup;
    if (ctl_connect(&setup, o->host, o->port, o->redis) < 0) {
        snprintf(err, errlen, "%s", setup.err);
        ctl_close(&setup);
        return -1;
    }
    int rc = wl_setup(&setup, w, err, errlen);
    ctl_close(&setup);
    if (rc < 0)
        return -1;
    ctl_stats *s0 = calloc(2, sizeof *s0), *s1 = s0 + 1;
    if (!s0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int have = stats && ctl_stats_get(stats, s0) == 0;
    progress pg = { .stats = stats, .hits = -1 };
    eng_config cfg = {
        .host = o->host, .port = o->port, .threads = o->threads, .connections = o->connections,
        .depth = o->depth, .warmup = o->warmup, .duration = o->requests ? 0 : o->duration,
        .requests = o->requests, .drain_timeout = 10, .proto = o->redis ? ENG_REDIS : ENG_LINE,
        .gen = wl_gen(w), .tick = o->progress ? on_tick : NULL, .tick_ud = &pg,
    };
    eng_result *er = malloc(sizeof *er);
    if (!er) {
        free(s0);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    eng_run(&cfg, er);
    if (o->progress) {
        printf("\r\033[K");
        fflush(stdout);
    }
    have = have && ctl_stats_get(stats, s1) == 0;

    memset(row, 0, sizeof *row);
    snprintf(row->workload, sizeof row->workload, "%s", wl_names[w->kind]);
    snprintf(row->protocol, sizeof row->protocol, "%s", o->redis ? "redis" : "line");
    row->param = param;
    row->threads = o->threads < o->connections ? o->threads : o->connections;
    row->connections = o->connections;
    row->depth = o->depth;
    row->qpr = wl_queries_per_request(w);
    row->requests = er->requests;
    row->seconds = er->seconds;
    row->rps = er->seconds > 0 ? (double)er->requests / er->seconds : 0;
    row->qps = row->rps * row->qpr;
    row->p50 = hist_percentile(&er->lat, 50);
    row->p90 = hist_percentile(&er->lat, 90);
    row->p99 = hist_percentile(&er->lat, 99);
    row->p999 = hist_percentile(&er->lat, 99.9);
    row->max = hist_max(&er->lat);
    row->mean = hist_mean(&er->lat);
    row->sent = er->sent;
    row->completed = er->completed;
    row->errors = er->errors;
    row->lost = er->lost;
    row->conn_failures = er->conn_failures;
    snprintf(row->first_error, sizeof row->first_error, "%s", er->first_error);
    row->hit_ratio = NAN;
    row->have_stats = have;
    if (have) {
        row->d_queries = delta(s0, s1, "queries");
        row->d_reads = delta(s0, s1, "reads");
        row->d_writes = delta(s0, s1, "writes");
        row->d_errors = delta(s0, s1, "errors");
        row->d_hits = delta(s0, s1, "cache_hits");
        row->d_misses = delta(s0, s1, "cache_misses");
        if (row->d_hits >= 0 && row->d_misses >= 0 && row->d_hits + row->d_misses > 0)
            row->hit_ratio = (double)row->d_hits / (double)(row->d_hits + row->d_misses);
    }
    uint64_t q = er->sent * (uint64_t)row->qpr;
    row->tool_queries = ctl_sent.queries - before_sent.queries + q;
    row->tool_reads = ctl_sent.reads - before_sent.reads + (wl_is_write(w) || o->redis ? 0 : q);
    row->tool_writes = ctl_sent.writes - before_sent.writes + (wl_is_write(w) && !o->redis ? q : 0);
    if ((w->kind == WL_HIT || w->kind == WL_BATCH) && !o->nocache && have && row->d_hits >= 0 &&
        (double)row->d_hits < 0.99 * (double)q)
        fprintf(stderr, "warning: %s: only %lld of %llu reads were cache hits (STATS)\n", row->workload,
                (long long)row->d_hits, (unsigned long long)q);
    free(er);
    free(s0);
    return 0;
}

static int run_inproc(const options *o, report_row *row, char *err, size_t errlen)
{
    inproc_config ic = { .db_path = o->db, .threads = o->threads, .duration = o->duration > 0 ? o->duration : 10,
                         .warmup = o->warmup, .keys = 0, .row_bytes = o->row_bytes, .zipf = 0, .seed = o->seed };
    inproc_result *r = malloc(sizeof *r);
    if (!r || inproc_run(&ic, r) < 0) {
        snprintf(err, errlen, "%s", r ? r->error : "out of memory");
        free(r);
        return -1;
    }
    memset(row, 0, sizeof *row);
    snprintf(row->workload, sizeof row->workload, "inproc");
    snprintf(row->protocol, sizeof row->protocol, "sqlite");
    row->param = NAN;
    row->threads = row->connections = o->threads;
    row->depth = 1;
    row->qpr = 1;
    row->requests = row->sent = row->completed = r->queries;
    row->seconds = r->seconds;
    row->rps = row->qps = r->seconds > 0 ? (double)r->queries / r->seconds : 0;
    row->p50 = hist_percentile(&r->lat, 50);
    row->p90 = hist_percentile(&r->lat, 90);
    row->p99 = hist_percentile(&r->lat, 99);
    row->p999 = hist_percentile(&r->lat, 99.9);
    row->max = hist_max(&r->lat);
    row->mean = hist_mean(&r->lat);
    row->hit_ratio = NAN;
    row->errors = r->errors;
    snprintf(row->first_error, sizeof row->first_error, "%s", r->error);
    free(r);
    return 0;
}

static void output(const options *o, const report_row *rows, int n, const report_populate *pop)
{
    int array = o->kind == WL_BATCH || (o->kind == WL_MIXED && o->nratios > 1);
    if (o->json) {
        report_json(stdout, rows, n, array, pop);
    } else if (o->csv) {
        report_csv(stdout, rows, n);
    } else if (n > 0) {
        report_table(stdout, rows, n);
        if (o->kind == WL_BATCH) {
            printf("\n");
            report_batch_table(stdout, rows, n);
        }
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    options o;
    parse(argc, argv, &o);
    /* A server that closes a connection must show up as an error, not kill the tool. */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char err[512] = "";
    report_row rows[MAX_LIST];
    int n = 0;
    report_populate pop = { 0 };

    if (o.kind == WL_INPROC) {
        if (run_inproc(&o, &rows[0], err, sizeof err) < 0) {
            fprintf(stderr, "litecached-bench: ERROR: %s\n", err);
            return 1;
        }
        output(&o, rows, 1, &pop);
        if (rows[0].errors) {
            fprintf(stderr, "litecached-bench: ERROR: %llu lookups failed; first error: %s\n",
                    (unsigned long long)rows[0].errors, rows[0].first_error);
            return 1;
        }
        return 0;
    }

    /* The STATS connection doubles as the check that the server is there at all. */
    ctl stats;
    ctl *sp = NULL;
    if (!o.redis || o.populate) {
        if (ctl_connect(&stats, o.host, o.port, 0) < 0) {
            fprintf(stderr, "litecached-bench: ERROR: %s\n", stats.err);
            ctl_close(&stats);
            return 1;
        }
        sp = &stats;
    }
    if (o.populate) {
        wl_populate_result pr;
        int conns = o.populate_conns;
        if (wl_populate(o.host, o.port, o.populate, conns, &pr, err, sizeof err) < 0) {
            fprintf(stderr, "litecached-bench: ERROR: %s\n", err);
            return 1;
        }
        pop = (report_populate){ .done = 1, .users = pr.users, .rows = pr.rows, .first_id = pr.first_id,
                                 .seconds = pr.seconds };
        if (!o.json && !o.csv)
            printf("populated %llu users (ids %llu..%llu, each with 2 items and 2 posts: %llu rows) in %.2f s, "
                   "%.0f users/s\n", (unsigned long long)pr.users, (unsigned long long)pr.first_id,
                   (unsigned long long)(pr.first_id + pr.users - 1), (unsigned long long)pr.rows, pr.seconds,
                   pr.seconds > 0 ? (double)pr.users / pr.seconds : 0);
    }
    if (o.redis && sp) {
        ctl_close(sp);
        sp = NULL;
    }
    int failed = 0;
    if (o.kind != WL_NONE) {
        wl_opts w = { .kind = o.kind, .redis = o.redis, .keys = o.keys, .zipf = o.zipf, .zipf_s = o.zipf_s,
                      .row_bytes = o.row_bytes, .value_size = o.value_size, .nocache = o.nocache, .call = o.call,
                      .seed = o.seed, .connections = o.connections, .query = o.query, .ids = o.ids };
        int runs = o.kind == WL_BATCH ? o.nsizes : o.kind == WL_MIXED ? o.nratios : 1;
        for (int i = 0; i < runs; i++) {
            double param = NAN;
            if (o.kind == WL_BATCH)
                param = w.batch_size = o.sizes[i];
            else if (o.kind == WL_MIXED)
                param = w.hit_ratio = o.ratios[i];
            if (run_one(&o, &w, sp, param, &rows[n], err, sizeof err) < 0) {
                fprintf(stderr, "litecached-bench: ERROR: %s\n", err);
                failed = 1;
                break;
            }
            n++;
        }
        wl_cleanup(&w);
    }
    if (sp)
        ctl_close(sp);
    output(&o, rows, n, &pop);
    if (o.plot && n > 0) {
        double x[MAX_LIST], r[MAX_LIST], p[MAX_LIST];
        for (int i = 0; i < n; i++) {
            x[i] = rows[i].param;
            r[i] = rows[i].rps;
            p[i] = (double)rows[i].p99 / 1000.0;
        }
        char title[160];
        snprintf(title, sizeof title, "litecached %s: %d connections, depth %d", wl_names[o.kind], o.connections, o.depth);
        if (svg_plot(o.plot, title, o.kind == WL_BATCH ? "batch size (queries per BATCH)" : "hit ratio",
                     o.kind == WL_BATCH, x, r, p, n) < 0) {
            perror(o.plot);
            failed = 1;
        } else if (!o.json && !o.csv) {
            printf("plot written to %s\n", o.plot);
        }
    }
    uint64_t bad = 0, lost = 0;
    int cf = 0;
    const char *first = NULL;
    for (int i = 0; i < n; i++) {
        bad += rows[i].errors;
        lost += rows[i].lost;
        cf += rows[i].conn_failures;
        if (!first && rows[i].first_error[0])
            first = rows[i].first_error;
    }
    if (bad || lost || cf) {
        fprintf(stderr, "litecached-bench: ERROR: %llu requests failed, %llu unanswered, %d connections failed%s%s\n",
                (unsigned long long)bad, (unsigned long long)lost, cf, first ? "; first error: " : "", first ? first : "");
        failed = 1;
    }
    return failed ? 1 : 0;
}
