/*
 * runtime/store/postgres_notify.c - wait_notify() for PostgreSQL: other servers'
 * commits, heard through LISTEN.
 *
 * One connection of its own (s->listen, guarded by s->listen_mu, which a
 * waiting call holds) listens on both channels; when it is re-made the wait
 * reports RESYNC first, since anything sent meanwhile is lost.
 */
#include "store/postgres_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/util.h"

/* ------------------------------------------------------------------------ */
/* Notifications */

/* Records what a listen_wait() call delivered, for taas_pg_wait_notify(). */
typedef struct legacy_wake {
    bool woken;
} legacy_wake;

/*
 * (Re)open the listening connection: LISTEN on both channels. Logs the loss
 * and the return of the listener once each, not on every retry in between.
 */
static int listen_connect(pg_store *s)
{
    int err = 0;
    PGconn *c = taas_pg__open_conn(s, "listen", &err);
    if (c) {
        PGresult *r = PQexec(c, "LISTEN " TAAS_PG_CHANNEL "; LISTEN " TAAS_PG_TASK_CHANNEL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            taas_pg__set_error(s, "LISTEN", c, r);
            err = taas_pg__map_error(c, r);
            PQfinish(c);
            c = NULL;
        }
        PQclear(r);
    }
    if (!c) {
        if (!s->listen_down) {
            s->listen_down = true;
            taas_log(TAAS_LOG_WARN, "store.listen_down", "error=\"%s\"", taas_pg__tl_error);
        }
        return err;
    }
    if (s->listened) {
        atomic_fetch_add(&s->reconnects, 1);
        taas_log(TAAS_LOG_INFO, "store.listen_restored", "target=%s", s->target);
    }
    s->listen_down = false;
    s->listened = true;
    s->listen = c;
    return 0;
}

static void listen_lost(pg_store *s, const char *what)
{
    taas_pg__set_error(s, what, s->listen, NULL);
    PQfinish(s->listen);
    s->listen = NULL;
    if (!s->listen_down) {
        s->listen_down = true;
        taas_log(TAAS_LOG_WARN, "store.listen_down", "error=\"%s\"", taas_pg__tl_error);
    }
}

/* Hand out what has arrived; returns how many events were delivered. */
static int deliver(pg_store *s, void (*on_event)(void *, int, const char *), void *arg)
{
    int n = 0;
    bool runnable = false;
    PGnotify *nt;
    while ((nt = PQnotifies(s->listen)) != NULL) {
        if (strcmp(nt->relname, TAAS_PG_TASK_CHANNEL) == 0) {
            /* Payload: task ids separated by single spaces; "!" before the
             * id of a cancel request. */
            const char *p = nt->extra;
            while (p && *p) {
                size_t len = strcspn(p, " ");
                bool cancel = len == TAAS_ID_LEN + 1 && p[0] == '!';
                if (len == TAAS_ID_LEN || cancel) {
                    char id[TAAS_ID_LEN + 1];
                    memcpy(id, p + cancel, TAAS_ID_LEN);
                    id[TAAS_ID_LEN] = '\0';
                    on_event(arg, cancel ? TAAS_NOTIFY_CANCEL : TAAS_NOTIFY_TASK, id);
                    n++;
                }
                p += len;
                while (*p == ' ')
                    p++;
            }
        } else {
            runnable = true; /* many wake-ups fold into one */
        }
        PQfreemem(nt);
    }
    if (runnable) {
        on_event(arg, TAAS_NOTIFY_RUNNABLE, NULL);
        n++;
    }
    return n;
}

static int listen_wait(pg_store *s, int timeout_ms, void (*on_event)(void *, int, const char *),
                       void *arg)
{
    if (!s->listen || PQstatus(s->listen) != CONNECTION_OK) {
        if (s->listen)
            listen_lost(s, "listen");
        int err = listen_connect(s);
        if (err)
            return err;
        /* Anything sent while nobody listened is lost: look at everything. */
        on_event(arg, TAAS_NOTIFY_RESYNC, NULL);
        return 1;
    }
    int64_t t0 = taas_mono_ms();
    for (;;) {
        if (!PQconsumeInput(s->listen) || PQstatus(s->listen) != CONNECTION_OK) {
            listen_lost(s, "listen");
            return TAAS_STORE_EBUSY;
        }
        int got = deliver(s, on_event, arg);
        if (got)
            return got;
        long elapsed = (long)(taas_mono_ms() - t0);
        if (timeout_ms >= 0 && elapsed >= timeout_ms)
            return 0;
        struct pollfd pfd = {.fd = PQsocket(s->listen), .events = POLLIN};
        if (pfd.fd < 0) {
            listen_lost(s, "listen");
            return TAAS_STORE_EBUSY;
        }
        int rc = poll(&pfd, 1, timeout_ms < 0 ? -1 : (int)(timeout_ms - elapsed));
        if (rc < 0 && errno != EINTR) {
            taas_pg__tl_set("listen: poll: %s", strerror(errno));
            return TAAS_STORE_EIO;
        }
    }
}

int taas_pg__wait_notify(taas_store *base, int timeout_ms,
                          void (*on_event)(void *arg, int kind, const char *id), void *arg)
{
    pg_store *s = (pg_store *)base;
    if (!on_event)
        return TAAS_STORE_EINVAL;
    pthread_mutex_lock(&s->listen_mu);
    int rc = listen_wait(s, timeout_ms, on_event, arg);
    pthread_mutex_unlock(&s->listen_mu);
    return rc;
}

static void legacy_event(void *arg, int kind, const char *id)
{
    (void)id;
    if (kind != TAAS_NOTIFY_TASK)
        ((legacy_wake *)arg)->woken = true;
}

int taas_pg_wait_notify(taas_store *base, int timeout_ms)
{
    pg_store *s = (pg_store *)base;
    if (!s || strcmp(s->parent.backend, "postgresql") != 0)
        return TAAS_STORE_EINVAL;
    int64_t t0 = taas_mono_ms();
    pthread_mutex_lock(&s->listen_mu);
    int rc;
    for (;;) {
        legacy_wake w = {false};
        long elapsed = (long)(taas_mono_ms() - t0);
        long left = timeout_ms < 0 ? -1 : timeout_ms - elapsed;
        if (timeout_ms >= 0 && left < 0)
            left = 0;
        rc = listen_wait(s, (int)left, legacy_event, &w);
        if (rc <= 0 || w.woken) {
            rc = rc < 0 ? rc : w.woken ? 1 : 0;
            break;
        }
        /* Only task events came: keep waiting for a wake-up until the timeout. */
    }
    pthread_mutex_unlock(&s->listen_mu);
    return rc;
}

