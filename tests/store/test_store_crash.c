/*
 * tests/store/test_store_crash.c - an acknowledged write survives the death
 * of the process.
 *
 * Method. A child process opens the store and submits tasks through the
 * writer without end; each done callback writes the task's id down a pipe,
 * which is the acknowledgement a client would get. The parent reads ids,
 * kills the child with SIGKILL at a chosen point (mid-batch, with commits in
 * flight), collects the acknowledgements that made it into the pipe, then
 * reopens the database - SQLite recovers the WAL - and checks that every
 * acknowledged task is there and that the file passes integrity_check. This
 * tests the ordering "commit, then acknowledge"; power loss is covered by
 * synchronous=FULL, which a process kill cannot exercise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WINDOW = 64 };

typedef struct child_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left;
    int fd;
} child_batch;

static void child_done(taas_store_op *op, void *arg)
{
    child_batch *b = arg;
    if (op->result == 0) {
        char line[TAAS_ID_LEN + 2];
        memcpy(line, op->u.insert.task->id, TAAS_ID_LEN);
        line[TAAS_ID_LEN] = '\n';
        /* One write below PIPE_BUF: atomic, never a torn line. */
        if (write(b->fd, line, TAAS_ID_LEN + 1) != TAAS_ID_LEN + 1)
            _exit(3);
    }
    pthread_mutex_lock(&b->mu);
    b->left--;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void child_main(const char *dir, int fd)
{
    char url[1024], err[256];
    snprintf(url, sizeof(url), "sqlite:///%s/crash.db", dir);
    taas_store *s = taas_store_open(url, NULL, err, sizeof(err));
    if (!s)
        _exit(2);
    taas_writer *w = taas_writer_start(s, &(taas_writer_opts){.max_batch = 32});
    static taas_store_op ops[WINDOW];
    static taas_task_rec recs[WINDOW];
    child_batch b = {.fd = fd};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    unsigned long long n = 0;
    for (;;) {
        b.left = WINDOW;
        for (int i = 0; i < WINDOW; i++) {
            memset(&recs[i], 0, sizeof(recs[i]));
            snprintf(recs[i].id, sizeof(recs[i].id), "0190a5b3-0000-7000-8000-%012llx", ++n);
            recs[i].name = "crash";
            recs[i].input = "{\"payload\":\"some bytes to make the row a little larger\"}";
            recs[i].created_ms = 1;
            memset(&ops[i], 0, sizeof(ops[i]));
            ops[i].kind = TAAS_OP_INSERT;
            ops[i].u.insert.task = &recs[i];
            taas_writer_enqueue(w, &ops[i], child_done, &b);
        }
        pthread_mutex_lock(&b.mu);
        while (b.left > 0)
            pthread_cond_wait(&b.cv, &b.mu);
        pthread_mutex_unlock(&b.mu);
    }
}

static void crash_after(int acks_before_kill)
{
    char *dir = st_tmpdir();
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_main(dir, p[1]);
        _exit(0);
    }
    close(p[1]);
    size_t cap = 1024, n = 0;
    char (*ids)[TAAS_ID_LEN + 1] = malloc(cap * sizeof(*ids));
    char buf[TAAS_ID_LEN + 1];
    size_t have = 0;
    bool killed = false;
    for (;;) {
        ssize_t r = read(p[0], buf + have, sizeof(buf) - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* EOF: the child is gone */
        have += (size_t)r;
        if (have < sizeof(buf))
            continue;
        have = 0;
        assert_int_equal(buf[TAAS_ID_LEN], '\n');
        if (n == cap)
            ids = realloc(ids, (cap *= 2) * sizeof(*ids));
        memcpy(ids[n], buf, TAAS_ID_LEN);
        ids[n][TAAS_ID_LEN] = '\0';
        n++;
        if (!killed && n >= (size_t)acks_before_kill) {
            kill(pid, SIGKILL);
            killed = true;
        }
    }
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(have, 0);
    assert_true(n >= (size_t)acks_before_kill);

    taas_store *s = st_open(dir, "crash.db");
    for (size_t i = 0; i < n; i++) {
        taas_task_rec r;
        int rc = s->get(s, ids[i], &r);
        if (rc != 0)
            fail_msg("acknowledged task %s (%zu of %zu) lost: %s", ids[i], i + 1, n,
                     taas_store_strerror(rc));
        assert_string_equal(r.name, "crash");
        taas_task_rec_clear(&r);
    }
    s->close(s);

    char path[1024];
    st_path(path, sizeof(path), dir, "crash.db");
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(ids);
    st_rmdir(dir);
}

static void test_kill_early(void **state)
{
    (void)state;
    crash_after(1);
}

static void test_kill_mid(void **state)
{
    (void)state;
    crash_after(700);
}

static void test_kill_late(void **state)
{
    (void)state;
    crash_after(3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_early),
        cmocka_unit_test(test_kill_mid),
        cmocka_unit_test(test_kill_late),
    };
    return cmocka_run_group_tests_name("store_crash", tests, NULL, NULL);
}
