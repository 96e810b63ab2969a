/* replica_layout.c - which layout for the read replica: point reads on the WAL file vs one shared memdb (behind a rwlock) vs a private memdb per thread. */
/* Not part of the build (it has its own main):
 *   cc -O2 bench/micro/replica_layout.c -o /tmp/replica_layout -lsqlite3 -pthread
 *   cd /tmp && /tmp/replica_layout 2        # 2 threads, point reads; add "j" for a JSON aggregation
 * It makes m.db (200,000 users, 2 posts each) in the current directory on first use. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 200000
enum { FILE_WAL, SHARED_MMAP, PRIVATE, SHARED_CACHE, NMODES };
static const char *const mode_names[NMODES] = {"file, WAL (mmap)", "one shared memdb + rwlock (mmap)",
                                                "a private memdb per thread", "one shared memdb + rwlock (cache)"};
static int mode;
static pthread_rwlock_t rw;
static const double secs = 2;
static volatile int go;
static unsigned char *img;
static sqlite3_int64 imgsz;
static const char *query;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void ex(sqlite3 *d, const char *s)
{
    char *e = NULL;
    if (sqlite3_exec(d, s, NULL, NULL, &e)) {
        fprintf(stderr, "%s: %s\n", s, e);
        exit(1);
    }
}

static sqlite3 *open_for(long id)
{
    sqlite3 *d = NULL;
    (void)id;
    if (mode == FILE_WAL) {
        sqlite3_open_v2("m.db", &d, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        ex(d, "PRAGMA mmap_size=268435456; PRAGMA cache_size=-64000");
    } else if (mode == SHARED_MMAP || mode == SHARED_CACHE) {
        sqlite3_open_v2("file:/layoutrep?vfs=memdb", &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
        ex(d, mode == SHARED_MMAP ? "PRAGMA mmap_size=1073741824" : "PRAGMA cache_size=-64000");
    } else {
        sqlite3_open_v2(":memory:", &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        unsigned char *copy = sqlite3_malloc64((sqlite3_uint64)imgsz);
        memcpy(copy, img, (size_t)imgsz);
        sqlite3_deserialize(d, "main", copy, imgsz, imgsz, SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
        ex(d, "PRAGMA mmap_size=1073741824");
    }
    return d;
}

static void *thread_main(void *arg)
{
    long id = (long)arg;
    unsigned seed = (unsigned)id * 7919u + 1u;
    sqlite3 *d = open_for(id);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(d, query, -1, &st, NULL)) {
        fprintf(stderr, "%s\n", sqlite3_errmsg(d));
        exit(1);
    }
    int shared = mode == SHARED_MMAP || mode == SHARED_CACHE;
    while (!go)
        ;
    long n = 0;
    double t0 = now();
    while (now() - t0 < secs) {
        for (int k = 0; k < 100; k++, n++) {
            if (shared)
                pthread_rwlock_rdlock(&rw);
            sqlite3_bind_int(st, 1, rand_r(&seed) % (N - 10) + 1);
            while (sqlite3_step(st) == SQLITE_ROW)
                for (int c = 0; c < sqlite3_column_count(st); c++)
                    (void)sqlite3_column_text(st, c);
            sqlite3_reset(st);
            if (shared)
                pthread_rwlock_unlock(&rw);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(d);
    return (void *)n;
}

int main(int argc, char **argv)
{
    int nt = argc > 1 ? atoi(argv[1]) : 2;
    if (nt < 1 || nt > 16)
        nt = 2;
    query = argc > 2 && argv[2][0] == 'j'
                ? "SELECT u.id, u.email, (SELECT json_group_array(json_object('id', p.id, 'title', p.title, 'views', p.views)) "
                  "FROM (SELECT id, title, views FROM posts WHERE user_id = u.id ORDER BY id DESC) p) FROM users u "
                  "WHERE u.id BETWEEN ?1 AND ?1 + 9"
                : "SELECT * FROM users WHERE id = ?";
    sqlite3 *src;
    sqlite3_open("m.db", &src);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(src, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL);
    sqlite3_step(st);
    int have = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (!have) {
        ex(src, "PRAGMA journal_mode=WAL; CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE, "
                "pw TEXT, name TEXT, meta TEXT, created DATETIME DEFAULT CURRENT_TIMESTAMP); "
                "CREATE TABLE posts(id INTEGER PRIMARY KEY, user_id INT, title TEXT, views INT); "
                "CREATE INDEX pu ON posts(user_id); BEGIN");
        for (int i = 1; i <= N; i++) {
            char q[512];
            snprintf(q, sizeof q, "INSERT INTO users(email, pw, name, meta) VALUES ('u%d@example.com', "
                     "'pbkdf2$xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'User %d', '{\"country\":\"NO\"}'); "
                     "INSERT INTO posts(user_id, title, views) VALUES (%d, 'post a %d', %d), (%d, 'post b', 3)",
                     i, i, i, i, i, i);
            ex(src, q);
        }
        ex(src, "COMMIT");
    }
    pthread_rwlock_init(&rw, NULL);
    sqlite3 *anchor = NULL;
    for (mode = 0; mode < NMODES; mode++) {
        if ((mode == SHARED_MMAP || mode == SHARED_CACHE) && !anchor) {
            sqlite3_open_v2("file:/layoutrep?vfs=memdb", &anchor, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL);
            ex(anchor, "PRAGMA journal_mode=MEMORY");
            sqlite3_int64 lim = 2000000000;
            sqlite3_file_control(anchor, "main", SQLITE_FCNTL_SIZE_LIMIT, &lim);
            sqlite3 *tmp;
            sqlite3_open_v2("file:/layoutrep?vfs=memdb", &tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL);
            ex(tmp, "PRAGMA journal_mode=MEMORY");
            sqlite3_backup *b = sqlite3_backup_init(tmp, "main", src, "main");
            sqlite3_backup_step(b, -1);
            sqlite3_backup_finish(b);
            sqlite3_file *f;
            sqlite3_file_control(tmp, "main", SQLITE_FCNTL_FILE_POINTER, &f);
            unsigned char v[2] = {1, 1}; /* the copied header says WAL, which memdb cannot do */
            f->pMethods->xWrite(f, v, 2, 18);
            sqlite3_close(tmp);
        }
        if (mode == PRIVATE && !img) {
            img = sqlite3_serialize(src, "main", &imgsz, 0);
            img[18] = img[19] = 1;
        }
        pthread_t t[16];
        go = 0;
        for (long i = 0; i < nt; i++)
            pthread_create(&t[i], NULL, thread_main, (void *)i);
        double t0 = now();
        go = 1;
        long total = 0;
        for (int i = 0; i < nt; i++) {
            void *r;
            pthread_join(t[i], &r);
            total += (long)r;
        }
        printf("%-36s threads=%d  %8.0f q/s\n", mode_names[mode], nt, (double)total / (now() - t0));
    }
    sqlite3_free(img);
    sqlite3_close(anchor);
    sqlite3_close(src);
    return 0;
}
