/*
 * runtime/store/postgres.h - what the PostgreSQL backend offers beyond the
 * store.h vtable: its open function (store.c dispatches postgresql:// and
 * postgres:// URLs to it), the wake-up channel shared by every server on one
 * database, and counters for the benchmark.
 */
#ifndef TAAS_STORE_POSTGRES_H
#define TAAS_STORE_POSTGRES_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The NOTIFY channel: a commit that made a task runnable notifies it. */
#define TAAS_PG_CHANNEL "taas_tasks"
/*
 * Task events: a commit that changed tasks' state, progress or cancel
 * request (claim, completion, progress, cancel, recovery, release) notifies
 * this channel with their ids, space-separated, at most 200 per payload.
 * s->wait_notify delivers them as TAAS_NOTIFY_TASK, one id at a time.
 * Channels are per database: stores in different schemas of one database
 * hear each other's events (harmless: a listener re-reads and finds nothing).
 */
#define TAAS_PG_TASK_CHANNEL "taas_task_events"

typedef struct taas_pg_opts {
    /* Accept a server whose synchronous_commit is off. A commit then returns
     * before its WAL is flushed, so an acknowledged submit can be lost in a
     * server crash: refused unless this is set. */
    bool allow_async_commit;
} taas_pg_opts;

/*
 * Open the PostgreSQL store. `url` is a libpq connection string: a
 * postgresql:// or postgres:// URI, or the keyword form "host=... dbname=...".
 * Connects, checks the server's durability settings, runs the versioned
 * migrations (serialized across servers by an advisory lock) and prepares
 * the write statements. Returns NULL with a message in err on failure; no
 * message ever contains the password. Close with s->close(s).
 */
taas_store *taas_pg_open(const char *url, const taas_store_opts *opts, char *err, size_t errlen);
/* The same, with the PostgreSQL-only options; pgopts may be NULL. */
taas_store *taas_pg_open_ex(const char *url, const taas_store_opts *opts,
                            const taas_pg_opts *pgopts, char *err, size_t errlen);

/*
 * Wait up to timeout_ms for a notification on TAAS_PG_CHANNEL from any server
 * sharing the database (this one included); task events are read and
 * dropped. Returns 1 when woken (several notifications are folded into one),
 * 0 on timeout, or a negative TAAS_STORE_E* code when the listening
 * connection is down; it reconnects on the next call and then returns 1 at
 * once, since notifications sent while it was down are lost and work may be
 * waiting. One waiter at a time, shared with s->wait_notify (the engine uses
 * that one). `s` must be a PostgreSQL store.
 */
int taas_pg_wait_notify(taas_store *s, int timeout_ms);

typedef struct taas_pg_stats {
    uint64_t round_trips;  /* network round trips made by apply() */
    uint64_t transactions; /* committed batches */
    uint64_t statements;   /* statements sent by apply() */
    uint64_t reconnects;   /* connections re-established after a loss */
} taas_pg_stats;
/* Counters since open; thread-safe. `s` must be a PostgreSQL store. */
void taas_pg_get_stats(taas_store *s, taas_pg_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_STORE_POSTGRES_H */
