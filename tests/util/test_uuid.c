/*
 * tests/util/test_uuid.c - taas_uuid7 (runtime/util/util.c): RFC 9562 form,
 * strictly increasing ids from one thread and, in creation order, from
 * several; no repeats; the time field; and a forked child that does not
 * repeat its parent's random bits (ids draw them from a per-thread block).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

#define N_ONE 100000
#define N_THREADS 4
#define N_EACH 20000

typedef char uuid_text[37];

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static uint64_t hexval(const char *s, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[i];
        v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return v;
}

/* rand_b's 62 bits: the last 16 hex digits without the variant's two. */
static uint64_t rand_b(const char *id)
{
    char h[17];
    memcpy(h, id + 19, 4);
    memcpy(h + 4, id + 24, 12);
    h[16] = '\0';
    return hexval(h, 16) & 0x3fffffffffffffffULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_form_and_time(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        int64_t before = taas_now_ms();
        uuid_text id;
        taas_uuid7(id);
        assert_int_equal(strlen(id), 36);
        assert_true(taas_uuid_valid(id));
        assert_int_equal(id[14], '7');                 /* version */
        assert_non_null(strchr("89ab", id[19]));       /* variant 10 */
        assert_null(strpbrk(id, "ABCDEF"));            /* lower case */
        char ms[13];
        memcpy(ms, id, 8);
        memcpy(ms + 8, id + 9, 4);
        ms[12] = '\0';
        /* Not before the clock; ahead only if a busy ms borrowed the next. */
        int64_t t = (int64_t)hexval(ms, 12);
        assert_true(t >= before);
        assert_true(t <= taas_now_ms() + 1000);
    }
}

static void test_one_thread_increasing_unique(void **state)
{
    (void)state;
    uuid_text *ids = malloc(sizeof(uuid_text) * N_ONE);
    uint64_t *rb = malloc(sizeof(uint64_t) * N_ONE);
    assert_non_null(ids);
    assert_non_null(rb);
    for (int i = 0; i < N_ONE; i++) {
        taas_uuid7(ids[i]);
        rb[i] = rand_b(ids[i]);
        if (i > 0)
            assert_true(strcmp(ids[i - 1], ids[i]) < 0);
    }
    /* 62 random bits per id: 10^5 of them never repeat unless the bytes do. */
    qsort(rb, N_ONE, sizeof *rb, cmp_u64);
    for (int i = 1; i < N_ONE; i++)
        assert_true(rb[i - 1] != rb[i]);
    free(rb);
    free(ids);
}

/* Ids taken one after the other under a lock, from several threads, sort in
 * the order they were taken (ListTasks pages by id). */
static pthread_mutex_t seq_mu = PTHREAD_MUTEX_INITIALIZER;
static uuid_text *seq;
static int seq_n;

static void *taker(void *arg)
{
    uuid_text *mine = arg;
    for (int i = 0; i < N_EACH; i++) {
        if (i % 4 == 0) {
            pthread_mutex_lock(&seq_mu);
            taas_uuid7(seq[seq_n++]);
            pthread_mutex_unlock(&seq_mu);
        }
        taas_uuid7(mine[i]);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    uuid_text *all = malloc(sizeof(uuid_text) * N_THREADS * N_EACH);
    seq = malloc(sizeof(uuid_text) * N_THREADS * N_EACH);
    seq_n = 0;
    assert_non_null(all);
    assert_non_null(seq);
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, taker, all + (size_t)i * N_EACH), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N_THREADS; i++)
        for (int k = 1; k < N_EACH; k++)
            assert_true(strcmp(all[i * N_EACH + k - 1], all[i * N_EACH + k]) < 0);
    for (int i = 1; i < seq_n; i++)
        assert_true(strcmp(seq[i - 1], seq[i]) < 0);
    qsort(all, N_THREADS * N_EACH, sizeof *all, cmp_id);
    for (int i = 1; i < N_THREADS * N_EACH; i++)
        assert_true(strcmp(all[i - 1], all[i]) != 0);
    free(seq);
    free(all);
}

/* A child must not draw the random bytes its parent had in store. */
static void test_fork(void **state)
{
    (void)state;
    enum { K = 40 };
    uuid_text first;
    taas_uuid7(first); /* fills this thread's block */
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint64_t v[K];
        for (int i = 0; i < K; i++) {
            uuid_text id;
            taas_uuid7(id);
            v[i] = rand_b(id);
        }
        _exit(write(fd[1], v, sizeof v) == (ssize_t)sizeof v ? 0 : 1);
    }
    close(fd[1]);
    uint64_t mine[K], theirs[K];
    for (int i = 0; i < K; i++) {
        uuid_text id;
        taas_uuid7(id);
        mine[i] = rand_b(id);
    }
    size_t got = 0;
    while (got < sizeof theirs) {
        ssize_t r = read(fd[0], (char *)theirs + got, sizeof theirs - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    close(fd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int i = 0; i < K; i++)
        for (int k = 0; k < K; k++)
            assert_true(mine[i] != theirs[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_and_time),
        cmocka_unit_test(test_one_thread_increasing_unique),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
