/*
 * runtime/store/sqlite_checkpoint.c - WAL checkpoints on a thread of their
 * own, off the commit path.
 *
 * Why. With SQLite's automatic checkpoint, the commit that brings the WAL to
 * 1,000 frames also copies them into the database file and fsyncs it before
 * COMMIT returns: about one commit in a hundred at a low rate carries a
 * millisecond more, and every task in that commit waits for it.
 *
 * Method. The writer connection's WAL hook (which replaces the automatic
 * checkpoint) only looks at the WAL's size after each commit; from
 * CKPT_FRAMES frames on it wakes this thread, which runs a PASSIVE
 * checkpoint on a connection of its own. PASSIVE never waits for the
 * writer or the readers: it copies what no reader still needs and returns;
 * the writer starts the WAL over from its beginning at its next commit once
 * everything was copied. Durability does not depend on checkpoints (the
 * WAL holds every commit, fsync'd), so a checkpoint that fails or is late
 * loses nothing: the WAL grows a little and the next one catches up.
 *
 * The WAL starts over only at a commit that begins when every frame in it
 * has been copied. Between spaced commits (a low rate, where the latency
 * matters) the thread catches up and that happens by itself. Under a
 * steady stream of commits there is always a commit in flight that the
 * last checkpoint did not see, so once the WAL reaches CKPT_INLINE_FRAMES
 * the hook runs a PASSIVE checkpoint on the writer's own connection, as
 * SQLite's automatic checkpoint would have; the thread has by then copied
 * nearly everything, so that one copies only the last commits' frames,
 * and the next commit starts the WAL over. The WAL stays bounded whatever
 * happens to the thread.
 */
#include "store/sqlite_int.h"
#include "util/log.h"
#include "util/util.h"

#include <stdlib.h>

/* SQLite's default automatic checkpoint threshold. */
#define CKPT_FRAMES 1000
/* ~16 MiB of WAL at 4 KiB pages: the writer checkpoints the rest itself. */
#define CKPT_INLINE_FRAMES 4000
/* A commit ending this long after the previous one is "spaced" (see
 * wal_hook): 200 tasks/s are two commits every 5 ms. */
#define CKPT_SPACED_US 2000

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    sq_store *s = arg;
    /* The time since the previous commit ended tells spaced commits from
     * a stream of them, and so does a queue behind this one (what a slow
     * machine, or callgrind, shows instead of short gaps). */
    int64_t now = taas_mono_us();
    bool spaced = now - s->ckpt_last_commit_us >= CKPT_SPACED_US;
    s->ckpt_last_commit_us = now;
    if (spaced && frames >= CKPT_FRAMES && frames < 2 * CKPT_FRAMES)
        spaced = !taas_writer__ops_waiting();
    if (frames >= CKPT_INLINE_FRAMES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    if (frames < CKPT_FRAMES) {
        s->ckpt_next = CKPT_FRAMES; /* the WAL started over */
        return SQLITE_OK;
    }
    /* Once per CKPT_FRAMES new frames; and, up to 2 x CKPT_FRAMES, after
     * each commit that follows a pause: between spaced commits such a
     * catch-up ends before the next commit, which then starts the WAL
     * over. Not after commits that follow each other closely (C = 4: a
     * small commit every few hundred microseconds): one is always in
     * flight, the catch-ups never let the WAL start over, and after every
     * commit they were ten times the checkpoints of SQLite's automatic
     * one, each with two fsyncs (the WAL's, then the database's) sharing
     * the disk with the commits, copying the same hot pages again and
     * again (a checkpoint writes each page once however many frames hold
     * it). */
    bool wake = frames >= s->ckpt_next;
    if (wake)
        s->ckpt_next = frames + CKPT_FRAMES;
    if (wake || (spaced && frames < 2 * CKPT_FRAMES)) {
        pthread_mutex_lock(&s->ckpt_mu);
        if (!s->ckpt_wanted) {
            s->ckpt_wanted = true;
            pthread_cond_signal(&s->ckpt_cv);
        }
        pthread_mutex_unlock(&s->ckpt_mu);
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    sq_store *s = arg;
    pthread_setname_np(pthread_self(), "taas-checkpoint");
    int64_t failures = 0;
    pthread_mutex_lock(&s->ckpt_mu);
    for (;;) {
        while (!s->ckpt_wanted && !s->ckpt_stopping)
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
        if (s->ckpt_stopping)
            break;
        s->ckpt_wanted = false;
        pthread_mutex_unlock(&s->ckpt_mu);
        int log_frames = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                           &log_frames, &copied);
        /* SQLITE_BUSY: another checkpoint (or the writer's guard) runs;
         * the next commit past the threshold asks again. */
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && failures++ % 100 == 0)
            taas_log(TAAS_LOG_WARN, "store.checkpoint_failed", "error=\"%s\" failures=%lld",
                     sqlite3_errmsg(s->ckpt_db), (long long)failures);
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

int taas_sq__checkpointer_start(sq_store *s)
{
    int rc = sqlite3_open_v2(s->path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_extended_result_codes(s->ckpt_db, 1);
    /* Never wait on a lock: a checkpoint that cannot run now runs later. */
    sqlite3_busy_timeout(s->ckpt_db, 0);
    /* A connection opens the WAL at its first read; until then a
     * checkpoint on it does nothing at all (and reports -1 frames). */
    int64_t ignored;
    rc = taas_sq__query_int(s->ckpt_db, "SELECT COUNT(*) FROM sqlite_master", &ignored);
    if (rc != SQLITE_OK)
        return rc;
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    s->ckpt_init = true;
    if (pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) != 0)
        return SQLITE_NOMEM;
    s->ckpt_running = true;
    s->ckpt_next = CKPT_FRAMES;
    sqlite3_wal_hook(s->db, wal_hook, s);
    return SQLITE_OK;
}

void taas_sq__checkpointer_stop(sq_store *s)
{
    if (s->ckpt_running) {
        /* The writer is done (close runs after the writer stopped): no more
         * hooks; the last connection's close checkpoints what is left. */
        sqlite3_wal_hook(s->db, NULL, NULL);
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_stopping = true;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
        pthread_join(s->ckpt_thread, NULL);
        s->ckpt_running = false;
    }
    if (s->ckpt_db) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
    }
    if (s->ckpt_init) {
        pthread_mutex_destroy(&s->ckpt_mu);
        pthread_cond_destroy(&s->ckpt_cv);
        s->ckpt_init = false;
    }
}
