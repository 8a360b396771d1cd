/*
 * runtime/store/postgres_migrate.c - the PostgreSQL schema and its migrations.
 *
 * The list below is the schema's history: each migration runs once, in
 * order, in the transaction that records it in schema_migrations. A new
 * column or index is a new entry at the end (and the same version in
 * sqlite_migrate.c); entries already released never change.
 */
#include "store/postgres_int.h"

#include <stdio.h>
#include <stdlib.h>

#define SCHEMA_VERSION 6
/* pg_advisory_xact_lock key serializing migrations: "taas" in ASCII, then 1. */
#define MIGRATION_LOCK_KEY "8386103567981903873"

static const struct migration {
    int version;
    const char *description;
    const char *sql;
} migrations[] = {
    {1, "tasks table with claim, list, idempotency, lease and prune indexes",
     /* The shape of sqlite.c's table. Ids and names compare bytewise (COLLATE
      * "C") whatever the database's locale, so list order and page tokens
      * are those of SQLite. */
     "CREATE TABLE tasks ("
     " id text COLLATE \"C\" NOT NULL PRIMARY KEY,"
     " name text COLLATE \"C\" NOT NULL,"
     " input text NOT NULL,"
     " state smallint NOT NULL CHECK (state BETWEEN 1 AND 5),"
     " priority integer NOT NULL DEFAULT 0,"
     " attempt integer NOT NULL DEFAULT 0,"
     " max_attempts integer NOT NULL DEFAULT 1,"
     " timeout_s integer NOT NULL DEFAULT 0,"
     " idempotent boolean NOT NULL DEFAULT false,"
     " idempotency_key text COLLATE \"C\","
     " input_hash text,"
     " created_ms bigint NOT NULL,"
     " updated_ms bigint NOT NULL,"
     " run_after_ms bigint NOT NULL DEFAULT 0,"
     " started_ms bigint NOT NULL DEFAULT 0,"
     " finished_ms bigint NOT NULL DEFAULT 0,"
     " progress double precision NOT NULL DEFAULT 0,"
     " progress_message text,"
     " output text,"
     " error text,"
     " attempts_json text NOT NULL DEFAULT '[]',"
     " cancel_requested boolean NOT NULL DEFAULT false,"
     " lease_owner text,"
     " lease_expires_ms bigint NOT NULL DEFAULT 0,"
     " lease_token bigint NOT NULL DEFAULT 0"
     ");"
     "CREATE INDEX tasks_claim ON tasks (priority DESC, run_after_ms, id) WHERE state = 1;"
     "CREATE INDEX tasks_state_id ON tasks (state, id);"
     "CREATE INDEX tasks_name_id ON tasks (name, id);"
     "CREATE UNIQUE INDEX tasks_idempotency ON tasks (name, idempotency_key)"
     " WHERE idempotency_key IS NOT NULL;"
     /* Recovery, heartbeat and release all walk the RUNNING rows; one small
      * partial index serves the three, as in sqlite.c. */
     "CREATE INDEX tasks_lease ON tasks (lease_expires_ms) WHERE state = 2;"
     "CREATE INDEX tasks_finished ON tasks (finished_ms) WHERE finished_ms > 0;"},
    {2, "tasks.principal: isolation and idempotency keys per authenticated principal",
     "ALTER TABLE tasks ADD COLUMN principal text COLLATE \"C\" NOT NULL DEFAULT '';"
     "DROP INDEX tasks_idempotency;"
     "CREATE UNIQUE INDEX tasks_idempotency ON tasks (principal, name, idempotency_key)"
     " WHERE idempotency_key IS NOT NULL;"
     "CREATE INDEX tasks_principal_id ON tasks (principal, id);"},
    {3, "drop tasks_lease: tasks_state_id already finds the RUNNING rows",
     /* Every task enters and leaves RUNNING, so this index cost two B-tree
      * writes per task; the (state, id) index reaches the same rows, only
      * those RUNNING, for recovery, heartbeats and release. */
     "DROP INDEX tasks_lease;"},
    {4, "tasks.parent_id: tasks submitted by another task's body, listed by parent",
     "ALTER TABLE tasks ADD COLUMN parent_id text COLLATE \"C\";"
     "CREATE INDEX tasks_parent_id ON tasks (parent_id, id) WHERE parent_id IS NOT NULL;"},
    {5, "schedules: tasks submitted at the times of a cron expression or an interval",
     "CREATE TABLE schedules ("
     " id text COLLATE \"C\" NOT NULL PRIMARY KEY,"
     " principal text COLLATE \"C\" NOT NULL DEFAULT '',"
     " name text NOT NULL DEFAULT '',"
     " cron text,"
     " time_zone text NOT NULL DEFAULT '',"
     " interval_ms bigint NOT NULL DEFAULT 0,"
     " task_name text COLLATE \"C\" NOT NULL,"
     " input text NOT NULL,"
     " priority integer NOT NULL DEFAULT 0,"
     " timeout_s integer NOT NULL DEFAULT 0,"
     " catch_up smallint NOT NULL,"
     " max_catch_up integer NOT NULL,"
     " overlap smallint NOT NULL,"
     " paused boolean NOT NULL DEFAULT false,"
     " next_fire_ms bigint NOT NULL,"
     " last_fire_ms bigint NOT NULL DEFAULT 0,"
     " last_task_id text COLLATE \"C\","
     " created_ms bigint NOT NULL,"
     " updated_ms bigint NOT NULL,"
     " submitted bigint NOT NULL DEFAULT 0,"
     " skipped bigint NOT NULL DEFAULT 0);"
     "CREATE INDEX schedules_due ON schedules (next_fire_ms) WHERE NOT paused;"
     "CREATE INDEX schedules_principal_id ON schedules (principal, id);"},
    {6, "tasks.given_back: claims a server gave back unstarted, not counted against re-runs",
     "ALTER TABLE tasks ADD COLUMN given_back integer NOT NULL DEFAULT 0;"},
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
_Static_assert(N_MIGRATIONS == SCHEMA_VERSION, "SCHEMA_VERSION is the last migration");
/* Run one command in the migration transaction; 0 or a store code. */
static int mexec(pg_store *s, PGconn *c, const char *sql, int nparams, const char *const *v,
                 PGresult **keep)
{
    return taas_pg__exec(s, c, "migrate", sql, nparams, v, keep);
}

/*
 * Bring the schema to SCHEMA_VERSION in one transaction. The advisory lock
 * makes servers that start together take turns: the first migrates, the
 * others then find the work done.
 */
int taas_pg__migrate(pg_store *s, PGconn *c, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc = mexec(s, c, "BEGIN", 0, NULL, NULL);
    rc = rc ? rc : mexec(s, c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", 0, NULL, NULL);
    rc = rc ? rc
            : mexec(s, c,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY,"
                    " description text NOT NULL,"
                    " applied_ms bigint NOT NULL)",
                    0, NULL, NULL);
    rc = rc ? rc : mexec(s, c, "SELECT COALESCE(max(version), 0) FROM schema_migrations", 0, NULL, &r);
    if (rc) {
        taas_store__seterr(err, errlen, "cannot read the schema version: %s", taas_pg__tl_error);
        goto fail;
    }
    long cur = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (cur > SCHEMA_VERSION) {
        taas_store__seterr(err, errlen,
                           "PostgreSQL %s has schema version %ld, newer than this server knows "
                           "(%d): run a newer taas-server, or restore a backup",
                           s->target, cur, SCHEMA_VERSION);
        rc = TAAS_STORE_EINVAL;
        goto fail;
    }
    for (long v = cur; v < SCHEMA_VERSION; v++) {
        const struct migration *m = &migrations[v]; /* versions are 1..N in order */
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", m->version);
        const char *pv[2] = {ver, m->description};
        PGresult *mr = PQexec(c, m->sql);
        if (PQresultStatus(mr) != PGRES_COMMAND_OK) {
            taas_pg__set_error(s, "migrate", c, mr);
            rc = taas_pg__map_error(c, mr);
        }
        PQclear(mr);
        rc = rc ? rc
                : mexec(s, c,
                        "INSERT INTO schema_migrations (version, description, applied_ms)"
                        " VALUES ($1::integer, $2::text,"
                        " (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                        2, pv, NULL);
        if (rc) {
            taas_store__seterr(err, errlen, "migration %d (%s) failed: %s", m->version,
                               m->description, taas_pg__tl_error);
            goto fail;
        }
    }
    rc = mexec(s, c, "COMMIT", 0, NULL, NULL);
    if (rc) {
        taas_store__seterr(err, errlen, "migration commit failed: %s", taas_pg__tl_error);
        return rc;
    }
    return 0;
fail:
    if (PQstatus(c) == CONNECTION_OK)
        PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

