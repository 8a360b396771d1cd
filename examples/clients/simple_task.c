/*
 * examples/clients/simple_task.c - test your task from C.
 *
 * Submits my_custom_task with {"param1": "test", "param2": 42}, prints the
 * task id, follows the task to its end and prints the result:
 *
 *     $ ./simple_task 127.0.0.1:50051
 *     task 0190d2f4-...
 *     RUNNING 50% Processing...
 *     result {"result":"Processed test with 42"}
 *
 * The server address comes from argv[1], else $TAAS_SERVER, else
 * 127.0.0.1:50051. Exit status: 0 when the task succeeded, 1 otherwise.
 */
#include <stdio.h>

#include "taas/client.h"

/* Called for every state or progress change until the task ends. */
static int on_event(const taas_client_event *ev, void *payload)
{
    (void)payload;
    if (!taas_client_state_is_final(ev->state))
        printf("%s %d%% %s\n", taas_client_state_name(ev->state), (int)(ev->progress * 100 + 0.5),
               ev->progress_message);
    return 0; /* keep watching */
}

int main(int argc, char **argv)
{
    taas_client_options opts = TAAS_CLIENT_OPTIONS_INIT;
    opts.address = argc > 1 ? argv[1] : NULL; /* NULL: $TAAS_SERVER or the default */

    taas_client *client;
    taas_client_error err;
    if (taas_client_connect(&client, &opts, &err)) {
        fprintf(stderr, "connect: %s\n", err.message);
        return 1;
    }

    taas_client_submit_request req = {
        .task_name = "my_custom_task",
        .inputs_json = "{\"param1\": \"test\", \"param2\": 42}",
    };
    taas_client_submit_result sub;
    if (taas_client_submit(client, &sub, &req, NULL, &err)) {
        fprintf(stderr, "submit: %s: %s\n", taas_client_code_name(err.code), err.message);
        taas_client_close(client);
        return 1;
    }
    printf("task %s\n", sub.task_id);
    fflush(stdout);

    /* Watch until a final state; `task` then holds the result. */
    taas_client_task *task;
    if (taas_client_watch(client, &task, sub.task_id, on_event, NULL, NULL, &err)) {
        fprintf(stderr, "watch: %s: %s\n", taas_client_code_name(err.code), err.message);
        taas_client_close(client);
        return 1;
    }
    int status = 1;
    if (task->state == TAAS_CLIENT_STATE_SUCCEEDED) {
        printf("result %s\n", task->output_json);
        status = 0;
    } else {
        printf("%s: %s\n", taas_client_state_name(task->state), task->error);
    }
    taas_client_task_free(task);
    taas_client_close(client);
    return status;
}
