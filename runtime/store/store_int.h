/*
 * runtime/store/store_int.h - what the backends share with store.c, and
 * nothing the rest of the runtime should call. store.c parses the URL and
 * hands each backend the part it understands; one open function per backend.
 */
#ifndef TAAS_STORE_INT_H
#define TAAS_STORE_INT_H

#include "store/store.h"

/*
 * Open the SQLite backend. `path` is a file path, or NULL for a private
 * in-memory database; `url` is kept for describe(). Returns NULL with a
 * message in err on failure.
 */
taas_store *taas_store__sqlite_open(const char *url, const char *path,
                                    const taas_store_opts *opts, char *err, size_t errlen);

/* With tracing on (util/trace.h), make the timestamping VFS shim
 * (tracevfs.c) SQLite's default before the first connection opens; off, a
 * no-op. */
void taas_store__tracevfs_register(void);
/* writer.c: called inside apply() (the store's commit hooks): operations
 * are queued behind the batch being applied on this thread. False when the
 * batch did not come through a writer. */
bool taas_writer__ops_waiting(void);
/* walvec.c: a commit's WAL frames in one write (the default; see there). */
void taas_store__walvec_register(void);

/* snprintf into err when err is not NULL. */
void taas_store__seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ListTasks page tokens (store.c): encode the last id of a page; decode
 * returns -1 for anything a previous page did not produce. */
void taas_store__token_encode(const char id[TAAS_ID_LEN], char out[64]);
int taas_store__token_decode(const char *tok, char id[TAAS_ID_LEN + 1]);

/* The start of a paged list (store.c): the page size checked (1 to 1000)
 * and the token decoded into `after` ("" for the first page); next_token
 * emptied. 0, or TAAS_STORE_EINVAL. */
int taas_store__page_start(int limit, const char *page_token, char after[TAAS_ID_LEN + 1],
                           char next_token[64]);

/* Clear an op's outputs (store.c); discard also frees the records a claim
 * handed out, for a transaction that was rolled back. */
void taas_store__reset_outputs(taas_store_op *op);

/* qsort order of claimed records, the order a claim takes tasks in:
 * priority (high first), then run_after_ms, then id. Both backends sort a
 * claim's rows with it (their UPDATE ... RETURNING gives them in any order). */
int taas_store__claim_order(const void *a, const void *b);
void taas_store__discard_outputs(taas_store_op *op);

/* What a schedule fire (TAAS_OP_SCHED_FIRE, store.h) does, decided alike on
 * every backend from the schedule's row as read inside the fire's
 * transaction (store.c): STALE leaves everything alone with
 * TAAS_STORE_ESTALE in op->result; SKIP inserts nothing and counts every
 * due time as skipped (the last task still runs); SUBMIT inserts the tasks.
 * `skipped` gets what the row's skipped count grows by either way. */
typedef enum { TAAS_FIRE_STALE, TAAS_FIRE_SKIP, TAAS_FIRE_SUBMIT } taas_store_fire;
taas_store_fire taas_store__sched_fire_plan(taas_store_op *op, bool paused, int64_t next_ms,
                                            int last_state, int64_t *skipped);

#endif
