/*
 * runtime/store/sqlite_migrate.c - the SQLite schema and its migrations.
 *
 * The list below is the schema's history: at open each missing migration
 * runs in its own transaction, which re-reads the version inside it, so two
 * servers starting together apply each step once. A new column or index is
 * a new entry at the end (and the same version in postgres_migrate.c);
 * entries already released never change.
 */
#include "store/sqlite_int.h"

#include <stdio.h>

#define SCHEMA_VERSION 6

static const struct migration {
    int version;
    const char *description;
    const char *sql;
} migrations[] = {
    {1, "tasks table with claim, list, idempotency, lease and prune indexes",
     "CREATE TABLE tasks ("
     " id TEXT NOT NULL PRIMARY KEY,"
     " name TEXT NOT NULL,"
     " input TEXT NOT NULL,"
     " state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 5),"
     " priority INTEGER NOT NULL DEFAULT 0,"
     " attempt INTEGER NOT NULL DEFAULT 0,"
     " max_attempts INTEGER NOT NULL DEFAULT 1,"
     " timeout_s INTEGER NOT NULL DEFAULT 0,"
     " idempotent INTEGER NOT NULL DEFAULT 0,"
     " idempotency_key TEXT,"
     " input_hash TEXT,"
     " created_ms INTEGER NOT NULL,"
     " updated_ms INTEGER NOT NULL,"
     " run_after_ms INTEGER NOT NULL DEFAULT 0,"
     " started_ms INTEGER NOT NULL DEFAULT 0,"
     " finished_ms INTEGER NOT NULL DEFAULT 0,"
     " progress REAL NOT NULL DEFAULT 0,"
     " progress_message TEXT,"
     " output TEXT,"
     " error TEXT,"
     " attempts_json TEXT NOT NULL DEFAULT '[]',"
     " cancel_requested INTEGER NOT NULL DEFAULT 0,"
     " lease_owner TEXT,"
     " lease_expires_ms INTEGER NOT NULL DEFAULT 0,"
     " lease_token INTEGER NOT NULL DEFAULT 0"
     ") STRICT;"
     /* Claim order; only PENDING rows, so it stays small however many
      * finished tasks are kept. */
     "CREATE INDEX tasks_claim ON tasks (priority DESC, run_after_ms, id) WHERE state = 1;"
     /* ListTasks: newest first (ids are UUIDv7), by state or by name. */
     "CREATE INDEX tasks_state_id ON tasks (state, id);"
     "CREATE INDEX tasks_name_id ON tasks (name, id);"
     /* Idempotency keys are unique per task name. */
     "CREATE UNIQUE INDEX tasks_idempotency ON tasks (name, idempotency_key)"
     " WHERE idempotency_key IS NOT NULL;"
     /* RUNNING rows only, so as many entries as tasks running on this
      * database's workers: recovery finds expired leases in it, and
      * heartbeat and release walk it for an owner's rows rather than keep
      * one more index up to date on every claim and completion. */
     "CREATE INDEX tasks_lease ON tasks (lease_expires_ms) WHERE state = 2;"
     /* Pruning finds the oldest finished tasks. */
     "CREATE INDEX tasks_finished ON tasks (finished_ms) WHERE finished_ms > 0;"},
    {2, "tasks.principal: isolation and idempotency keys per authenticated principal",
     "ALTER TABLE tasks ADD COLUMN principal TEXT NOT NULL DEFAULT '';"
     "DROP INDEX tasks_idempotency;"
     "CREATE UNIQUE INDEX tasks_idempotency ON tasks (principal, name, idempotency_key)"
     " WHERE idempotency_key IS NOT NULL;"
     /* ListTasks of one principal, newest first. */
     "CREATE INDEX tasks_principal_id ON tasks (principal, id);"},
    {3, "drop tasks_lease: tasks_state_id already finds the RUNNING rows",
     /* Every task enters and leaves RUNNING, so this index cost two B-tree
      * writes per task; the (state, id) index reaches the same rows, only
      * those RUNNING, for recovery, heartbeats and release. */
     "DROP INDEX tasks_lease;"},
    {4, "tasks.parent_id: tasks submitted by another task's body, listed by parent",
     "ALTER TABLE tasks ADD COLUMN parent_id TEXT;"
     /* Only children are indexed: client-submitted tasks cost no entry. */
     "CREATE INDEX tasks_parent_id ON tasks (parent_id, id) WHERE parent_id IS NOT NULL;"},
    {5, "schedules: tasks submitted at the times of a cron expression or an interval",
     "CREATE TABLE schedules ("
     " id TEXT NOT NULL PRIMARY KEY,"
     " principal TEXT NOT NULL DEFAULT '',"
     " name TEXT NOT NULL DEFAULT '',"
     " cron TEXT,"
     " time_zone TEXT NOT NULL DEFAULT '',"
     " interval_ms INTEGER NOT NULL DEFAULT 0,"
     " task_name TEXT NOT NULL,"
     " input TEXT NOT NULL,"
     " priority INTEGER NOT NULL DEFAULT 0,"
     " timeout_s INTEGER NOT NULL DEFAULT 0,"
     " catch_up INTEGER NOT NULL,"
     " max_catch_up INTEGER NOT NULL,"
     " overlap INTEGER NOT NULL,"
     " paused INTEGER NOT NULL DEFAULT 0,"
     " next_fire_ms INTEGER NOT NULL,"
     " last_fire_ms INTEGER NOT NULL DEFAULT 0,"
     " last_task_id TEXT,"
     " created_ms INTEGER NOT NULL,"
     " updated_ms INTEGER NOT NULL,"
     " submitted INTEGER NOT NULL DEFAULT 0,"
     " skipped INTEGER NOT NULL DEFAULT 0"
     ") STRICT;"
     /* The scheduler's question every tick: which are due. */
     "CREATE INDEX schedules_due ON schedules (next_fire_ms) WHERE paused = 0;"
     "CREATE INDEX schedules_principal_id ON schedules (principal, id);"},
    {6, "tasks.given_back: claims a server gave back unstarted, not counted against re-runs",
     /* lease_token - attempt counts every claim that used no attempt; those
      * given back by a server that could not start them soon (the body
      * never started) are not re-runs, so they are counted apart. */
     "ALTER TABLE tasks ADD COLUMN given_back INTEGER NOT NULL DEFAULT 0;"},
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
_Static_assert(N_MIGRATIONS == SCHEMA_VERSION, "SCHEMA_VERSION is the last migration");
int taas_sq__query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int taas_sq__migrate(sq_store *s, char *err, size_t errlen)
{
    sqlite3 *db = s->db;
    for (;;) {
        int64_t cur = 0;
        int rc = taas_sq__exec_pragma(db, "BEGIN IMMEDIATE");
        if (rc == SQLITE_OK)
            rc = taas_sq__exec_pragma(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                 " version INTEGER PRIMARY KEY,"
                                 " description TEXT NOT NULL,"
                                 " applied_ms INTEGER NOT NULL)");
        if (rc == SQLITE_OK)
            rc = taas_sq__query_int(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &cur);
        if (rc != SQLITE_OK) {
            taas_store__seterr(err, errlen, "cannot read the schema version of %s: %s", s->url,
                               sqlite3_errmsg(db));
            taas_sq__exec_pragma(db, "ROLLBACK");
            return taas_sq__map_rc(rc);
        }
        if (cur > SCHEMA_VERSION) {
            taas_sq__exec_pragma(db, "ROLLBACK");
            taas_store__seterr(err, errlen,
                               "database %s has schema version %lld, newer than this server "
                               "knows (%d): run a newer taas-server, or restore a backup",
                               s->url, (long long)cur, SCHEMA_VERSION);
            return TAAS_STORE_EINVAL;
        }
        if (cur == SCHEMA_VERSION) {
            taas_sq__exec_pragma(db, "COMMIT");
            return 0;
        }
        const struct migration *m = &migrations[cur]; /* versions are 1..N in order */
        rc = taas_sq__exec_pragma(db, m->sql);
        if (rc == SQLITE_OK) {
            sqlite3_stmt *st;
            rc = sqlite3_prepare_v2(db,
                                    "INSERT INTO schema_migrations (version, description, applied_ms)"
                                    " VALUES (?1, ?2, CAST((julianday('now') - 2440587.5)"
                                    " * 86400000 AS INTEGER))",
                                    -1, &st, NULL);
            if (rc == SQLITE_OK) {
                sqlite3_bind_int(st, 1, m->version);
                sqlite3_bind_text(st, 2, m->description, -1, SQLITE_STATIC);
                rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
                sqlite3_finalize(st);
            }
        }
        if (rc == SQLITE_OK)
            rc = taas_sq__exec_pragma(db, "COMMIT");
        if (rc != SQLITE_OK) {
            taas_store__seterr(err, errlen, "migration %d (%s) of %s failed: %s", m->version,
                               m->description, s->url, sqlite3_errmsg(db));
            if (!sqlite3_get_autocommit(db))
                taas_sq__exec_pragma(db, "ROLLBACK");
            return taas_sq__map_rc(rc);
        }
    }
}

