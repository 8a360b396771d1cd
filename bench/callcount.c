/*
 * bench/callcount.c - LD_PRELOAD counter of the per-task costs that the
 * hot path is judged by: heap allocations, SQLite statements executed (by
 * SQL text), transactions committed, fsync/fdatasync calls.
 *
 *   TAAS_CALLCOUNT_OUT=/tmp/counts.txt \
 *   LD_PRELOAD=build/libtaas-callcount.so taas-server ...
 *
 * The counts are written when the process exits (normally: SIGTERM is a
 * clean shutdown for taas-server). bench/costs runs a server twice with
 * different task counts and divides the difference by the difference in
 * tasks, which removes start-up and shutdown.
 *
 * Allocation wrappers call glibc's __libc_* entry points directly, so no
 * dlsym() is needed on that path; SQLite and sync wrappers find the real
 * function with dlsym(RTLD_NEXT) on first use.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static atomic_ulong n_malloc, n_calloc, n_realloc, n_free, n_step, n_exec, n_prepare, n_commit,
    n_fsync, n_fdatasync;

void *malloc(size_t size)
{
    atomic_fetch_add_explicit(&n_malloc, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    atomic_fetch_add_explicit(&n_calloc, 1, memory_order_relaxed);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    atomic_fetch_add_explicit(&n_realloc, 1, memory_order_relaxed);
    return __libc_realloc(p, size);
}

void free(void *p)
{
    if (p)
        atomic_fetch_add_explicit(&n_free, 1, memory_order_relaxed);
    __libc_free(p);
}

/* Statements by the first 60 bytes of their SQL. */
#define MAX_SQL 128
static struct {
    char sql[61];
    unsigned long count;
} sql_table[MAX_SQL];
static pthread_mutex_t sql_mu = PTHREAD_MUTEX_INITIALIZER;

static void count_sql(const char *sql)
{
    if (!sql)
        sql = "?";
    while (*sql == ' ' || *sql == '\n' || *sql == '\t')
        sql++;
    if (strncasecmp(sql, "COMMIT", 6) == 0 || strncasecmp(sql, "END", 3) == 0)
        atomic_fetch_add(&n_commit, 1);
    char key[61];
    size_t i;
    for (i = 0; i < 60 && sql[i]; i++)
        key[i] = (sql[i] == '\n' || sql[i] == '\t') ? ' ' : sql[i];
    key[i] = '\0';
    pthread_mutex_lock(&sql_mu);
    for (i = 0; i < MAX_SQL; i++) {
        if (sql_table[i].count == 0) {
            memcpy(sql_table[i].sql, key, sizeof key);
            sql_table[i].count = 1;
            break;
        }
        if (strcmp(sql_table[i].sql, key) == 0) {
            sql_table[i].count++;
            break;
        }
    }
    pthread_mutex_unlock(&sql_mu);
}

/* Set while sqlite3_exec runs: the statements it prepares and steps may
 * come back through these wrappers and are already counted as the exec. */
static _Thread_local int in_exec;

int sqlite3_step(sqlite3_stmt *stmt)
{
    static int (*real)(sqlite3_stmt *);
    if (!real)
        real = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT, "sqlite3_step");
    /* Count an execution once, at its first step (a SELECT steps once per
     * row; a statement that is not busy is starting a new execution). */
    if (!in_exec && !sqlite3_stmt_busy(stmt)) {
        atomic_fetch_add(&n_step, 1);
        count_sql(sqlite3_sql(stmt));
    }
    return real(stmt);
}

int sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
                 void *arg, char **errmsg)
{
    static int (*real)(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *,
                       char **);
    if (!real)
        real = (int (*)(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *,
                        char **))dlsym(RTLD_NEXT, "sqlite3_exec");
    atomic_fetch_add(&n_exec, 1);
    count_sql(sql);
    in_exec++;
    int rc = real(db, sql, cb, arg, errmsg);
    in_exec--;
    return rc;
}

int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **out,
                       const char **tail)
{
    static int (*real)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    if (!real)
        real = (int (*)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **))dlsym(
            RTLD_NEXT, "sqlite3_prepare_v2");
    if (!in_exec)
        atomic_fetch_add(&n_prepare, 1);
    return real(db, sql, n, out, tail);
}

int sqlite3_prepare_v3(sqlite3 *db, const char *sql, int n, unsigned flags, sqlite3_stmt **out,
                       const char **tail)
{
    static int (*real)(sqlite3 *, const char *, int, unsigned, sqlite3_stmt **, const char **);
    if (!real)
        real = (int (*)(sqlite3 *, const char *, int, unsigned, sqlite3_stmt **,
                        const char **))dlsym(RTLD_NEXT, "sqlite3_prepare_v3");
    if (!in_exec)
        atomic_fetch_add(&n_prepare, 1);
    return real(db, sql, n, flags, out, tail);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    atomic_fetch_add(&n_fsync, 1);
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    atomic_fetch_add(&n_fdatasync, 1);
    return real(fd);
}

__attribute__((destructor)) static void callcount_report(void)
{
    const char *path = getenv("TAAS_CALLCOUNT_OUT");
    if (!path)
        return;
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "malloc %lu\ncalloc %lu\nrealloc %lu\nfree %lu\n", atomic_load(&n_malloc),
            atomic_load(&n_calloc), atomic_load(&n_realloc), atomic_load(&n_free));
    fprintf(f, "statements %lu\nsqlite3_exec %lu\nsqlite3_prepare %lu\ncommit %lu\n",
            atomic_load(&n_step), atomic_load(&n_exec), atomic_load(&n_prepare),
            atomic_load(&n_commit));
    fprintf(f, "fsync %lu\nfdatasync %lu\n", atomic_load(&n_fsync), atomic_load(&n_fdatasync));
    pthread_mutex_lock(&sql_mu);
    for (int i = 0; i < MAX_SQL && sql_table[i].count; i++)
        fprintf(f, "sql %lu %s\n", sql_table[i].count, sql_table[i].sql);
    pthread_mutex_unlock(&sql_mu);
    fclose(f);
}
