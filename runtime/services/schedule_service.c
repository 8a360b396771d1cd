/*
 * runtime/services/schedule_service.c - taas.v1.ScheduleService over the
 * engine's schedules (engine.h). Create, pause, resume and delete answer
 * from the engine's callback after the durable commit; get and list at
 * once. With authentication on, a principal without the admin scope sees
 * only its own schedules; another's answers NOT_FOUND like an unknown id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/services_int.h"
#include "taas/v1/schedule.pb-c.h"
#include "util/util.h"

#define UPCOMING 5

static char *str(const char *s)
{
    return (char *)(s ? s : "");
}

/* Fill m from r (strings borrowed); upcoming due times into up[]. */
static void sched_pb(Taas__V1__Schedule *m, const taas_schedule_rec *r, int64_t *up, bool with_up)
{
    taas__v1__schedule__init(m);
    m->id = (char *)r->id;
    m->name = str(r->name);
    m->cron = str(r->cron);
    m->time_zone = str(r->time_zone);
    m->interval_ms = r->interval_ms;
    m->task_name = str(r->task_name);
    m->inputs_json = str(r->input);
    m->priority = r->priority;
    m->timeout_s = r->timeout_s;
    m->catch_up = (Taas__V1__CatchUpPolicy)r->catch_up;
    m->max_catch_up = r->max_catch_up;
    m->overlap = (Taas__V1__OverlapPolicy)r->overlap;
    m->paused = r->paused;
    m->next_fire_at_ms = r->paused ? 0 : r->next_fire_ms;
    m->last_fire_at_ms = r->last_fire_ms;
    m->last_task_id = str(r->last_task_id);
    m->created_at_ms = r->created_ms;
    m->updated_at_ms = r->updated_ms;
    m->submitted = r->submitted;
    m->skipped = r->skipped;
    if (with_up) {
        m->n_upcoming_at_ms = (size_t)taas_engine_schedule_upcoming(r, taas_now_ms(), up, UPCOMING);
        m->upcoming_at_ms = up;
    }
}

static void unavailable(taas_call *call)
{
    taas_call_reply(call, TAAS_ST_UNAVAILABLE, "server is shutting down; retry", NULL, 0);
}

/* Whether the caller may see schedule r (its owner, an admin, or no auth). */
static bool mine(const taas_call *call, const taas_schedule_rec *r)
{
    const char *who = svc_principal(call);
    return !who || strcmp(who, r->principal ? r->principal : "") == 0;
}

/* Schedule `id` into r when the caller may see it; another principal's
 * schedule reads as not found, as one that does not exist. r is cleared by
 * the caller either way. */
static taas_status get_mine(taas_call *call, taas_engine *e, const char *id,
                            taas_schedule_rec *r, char *msg, size_t cap)
{
    taas_status st = taas_engine_schedule_get(e, id, r, msg, cap);
    if (st == TAAS_ST_OK && !mine(call, r)) {
        st = TAAS_ST_NOT_FOUND;
        snprintf(msg, cap, "schedule '%.64s' not found", id);
    }
    return st;
}

/* Reply for create/pause/resume (the schedule) or delete (empty). */
static void changed(void *arg, taas_status st, const char *msg, const taas_schedule_rec *r)
{
    taas_call *call = arg;
    if (st != TAAS_ST_OK) {
        taas_call_reply(call, st, msg ? msg : taas_status_name(st), NULL, 0);
    } else if (!r) {
        Taas__V1__DeleteScheduleResponse resp = TAAS__V1__DELETE_SCHEDULE_RESPONSE__INIT;
        svc_reply(call, &resp.base);
    } else {
        /* Create, pause and resume responses share one shape: field 1. */
        Taas__V1__Schedule m;
        int64_t up[UPCOMING];
        sched_pb(&m, r, up, true);
        Taas__V1__GetScheduleResponse resp = TAAS__V1__GET_SCHEDULE_RESPONSE__INIT;
        resp.schedule = &m;
        svc_reply(call, &resp.base);
    }
    taas_call_unref(call);
}

static void create_schedule(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Taas__V1__CreateScheduleRequest *req = (Taas__V1__CreateScheduleRequest *)svc_unpack(
        call, &taas__v1__create_schedule_request__descriptor);
    if (!req)
        return;
    const Taas__V1__Schedule *in = req->schedule;
    if (!in) {
        taas_call_reply(call, TAAS_ST_INVALID_ARGUMENT, "schedule: required", NULL, 0);
    } else {
        taas_engine *e = svc_enter(s);
        if (!e) {
            unavailable(call);
        } else {
            taas_schedule_req r = {
                .name = in->name, .cron = in->cron, .time_zone = in->time_zone,
                .interval_ms = in->interval_ms, .task_name = in->task_name,
                .input = in->inputs_json, .input_len = strlen(in->inputs_json),
                .priority = in->priority, .timeout_s = in->timeout_s,
                .catch_up = in->catch_up, .max_catch_up = in->max_catch_up,
                .overlap = in->overlap, .paused = in->paused,
                .principal = svc_principal(call),
            };
            char msg[512] = "";
            taas_call_ref(call);
            taas_status st = taas_engine_schedule_create(e, &r, changed, call, msg, sizeof msg);
            svc_leave(s);
            if (st != TAAS_ST_OK) {
                taas_call_reply(call, st, msg, NULL, 0);
                taas_call_unref(call);
            }
        }
    }
    taas__v1__create_schedule_request__free_unpacked(req, NULL);
}

static void get_schedule(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Taas__V1__GetScheduleRequest *req = (Taas__V1__GetScheduleRequest *)svc_unpack(
        call, &taas__v1__get_schedule_request__descriptor);
    if (!req)
        return;
    taas_engine *e = svc_enter(s);
    if (!e) {
        unavailable(call);
    } else {
        taas_schedule_rec r;
        char msg[256] = "";
        taas_status st = get_mine(call, e, req->schedule_id, &r, msg, sizeof msg);
        svc_leave(s);
        if (st != TAAS_ST_OK) {
            taas_call_reply(call, st, msg, NULL, 0);
        } else {
            Taas__V1__Schedule m;
            int64_t up[UPCOMING];
            sched_pb(&m, &r, up, true);
            Taas__V1__GetScheduleResponse resp = TAAS__V1__GET_SCHEDULE_RESPONSE__INIT;
            resp.schedule = &m;
            svc_reply(call, &resp.base);
        }
        taas_schedule_rec_clear(&r);
    }
    taas__v1__get_schedule_request__free_unpacked(req, NULL);
}

static void list_schedules(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Taas__V1__ListSchedulesRequest *req = (Taas__V1__ListSchedulesRequest *)svc_unpack(
        call, &taas__v1__list_schedules_request__descriptor);
    if (!req)
        return;
    int limit = req->page_size == 0 ? 50 : req->page_size;
    taas_engine *e = svc_enter(s);
    if (!e) {
        unavailable(call);
    } else if (limit < 1 || limit > 1000) {
        svc_leave(s);
        taas_call_reply(call, TAAS_ST_INVALID_ARGUMENT, "page_size: must be 0 to 1000", NULL, 0);
    } else {
        taas_schedule_rec *recs = NULL;
        size_t n = 0;
        char next[64], msg[256] = "";
        taas_status st = taas_engine_schedule_list(e, svc_principal(call), limit, req->page_token,
                                                   &recs, &n, next, msg, sizeof msg);
        svc_leave(s);
        if (st != TAAS_ST_OK) {
            taas_call_reply(call, st, msg, NULL, 0);
        } else {
            Taas__V1__Schedule *ms = calloc(n ? n : 1, sizeof *ms);
            Taas__V1__Schedule **mp = calloc(n ? n : 1, sizeof *mp);
            if (!ms || !mp) {
                taas_call_reply(call, TAAS_ST_INTERNAL, "out of memory", NULL, 0);
            } else {
                for (size_t i = 0; i < n; i++) {
                    sched_pb(&ms[i], &recs[i], NULL, false);
                    mp[i] = &ms[i];
                }
                Taas__V1__ListSchedulesResponse resp = TAAS__V1__LIST_SCHEDULES_RESPONSE__INIT;
                resp.n_schedules = n;
                resp.schedules = mp;
                resp.next_page_token = next;
                svc_reply(call, &resp.base);
            }
            free(ms);
            free(mp);
        }
        for (size_t i = 0; i < n; i++)
            taas_schedule_rec_clear(&recs[i]);
        free(recs);
    }
    taas__v1__list_schedules_request__free_unpacked(req, NULL);
}

/* Pause, resume, delete: all take a schedule_id in field 1. */
static void set_schedule(taas_call *call, taas_services *s, int action)
{
    Taas__V1__GetScheduleRequest *req = (Taas__V1__GetScheduleRequest *)svc_unpack(
        call, &taas__v1__get_schedule_request__descriptor);
    if (!req)
        return;
    taas_engine *e = svc_enter(s);
    if (!e) {
        unavailable(call);
    } else {
        taas_schedule_rec r;
        char msg[256] = "";
        taas_status st = get_mine(call, e, req->schedule_id, &r, msg, sizeof msg);
        taas_schedule_rec_clear(&r);
        if (st == TAAS_ST_OK) {
            taas_call_ref(call);
            st = taas_engine_schedule_set(e, req->schedule_id, action, changed, call, msg,
                                          sizeof msg);
            if (st != TAAS_ST_OK)
                taas_call_unref(call);
        }
        svc_leave(s);
        if (st != TAAS_ST_OK)
            taas_call_reply(call, st, msg, NULL, 0);
    }
    taas__v1__get_schedule_request__free_unpacked(req, NULL);
}

static void pause_schedule(taas_call *call, void *arg)
{
    set_schedule(call, arg, TAAS_SCHED_PAUSE);
}

static void resume_schedule(taas_call *call, void *arg)
{
    set_schedule(call, arg, TAAS_SCHED_RESUME);
}

static void delete_schedule(taas_call *call, void *arg)
{
    set_schedule(call, arg, TAAS_SCHED_DELETE);
}

void svc_schedule_methods(taas_services *s, size_t *i)
{
#define M(name, fn)                                                                              \
    s->methods[(*i)++] = (taas_method){"/taas.v1.ScheduleService/" name, TAAS_CALL_UNARY, fn, s}
    M("CreateSchedule", create_schedule);
    M("GetSchedule", get_schedule);
    M("ListSchedules", list_schedules);
    M("PauseSchedule", pause_schedule);
    M("ResumeSchedule", resume_schedule);
    M("DeleteSchedule", delete_schedule);
#undef M
}
