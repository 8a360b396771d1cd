/*
 * tests/store/store_suite.h - the per-test store of a store suite file, on
 * the backend the file is built for: a fresh SQLite file in a temporary
 * directory, or, built with ST_BACKEND_PG, a fresh schema on the PostgreSQL
 * test cluster (tests/postgres/pg_test.h). Included once by each suite file
 * (test_store_list.c, test_store_ops.c); S(state) is the store.
 */
#ifndef TAAS_STORE_SUITE_H
#define TAAS_STORE_SUITE_H

#include <stdlib.h>

#include "store_test.h"

#ifdef ST_BACKEND_PG
#include "pg_test.h"

#define SUITE_PREFIX "pg_"
#define S(state) (((pt_fix *)*(state))->s)

static int setup(void **state)
{
    return pt_setup(state);
}

static int teardown(void **state)
{
    return pt_teardown(state);
}
#else
#define SUITE_PREFIX ""
#define S(state) (((st_fix *)*(state))->s)

typedef struct st_fix {
    char *dir;
    taas_store *s;
} st_fix;

static int setup(void **state)
{
    st_fix *f = calloc(1, sizeof(*f));
    f->dir = st_tmpdir();
    f->s = st_open(f->dir, "suite.db");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    st_fix *f = *state;
    f->s->close(f->s);
    st_rmdir(f->dir);
    free(f);
    return 0;
}
#endif

#endif
