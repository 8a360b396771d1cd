/*
 * examples/tasks/my_custom_task.c - the task of the product guide: two
 * parameters in, one sentence out. The smallest complete body: read the
 * input struct, report progress, build the output in the arena.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "my_custom_task.h"

/*
 * Write v as JavaScript (and so a JSON reader in a browser) shows it: the
 * fewest significant digits that read back to the same double, in plain
 * notation from 1e-6 up to 1e21 and in exponent notation outside that
 * range ("42", "2.5", "0.001", "1e+21", "1.5e-7").
 */
static void format_number(char *buf, size_t cap, double v)
{
    char sci[40];
    int prec;

    if (v == 0) { /* also -0, which JavaScript shows as "0" */
        snprintf(buf, cap, "0");
        return;
    }
    for (prec = 0; prec < 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    /* sci is "[-]d[.ddd]e[+-]xx": collect the digits and the exponent. */
    char digits[24];
    int k = 0;
    const char *p = sci;
    bool neg = (*p == '-');
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++) {
        if (*p != '.')
            digits[k++] = *p;
    }
    while (k > 1 && digits[k - 1] == '0') /* the shortest form has none; be safe */
        k--;
    digits[k] = '\0';
    int n = atoi(p + 1) + 1; /* v = 0.digits * 10^n */

    size_t o = 0;
#define PUT(c) do { if (o + 1 < cap) buf[o++] = (c); } while (0)
    if (neg)
        PUT('-');
    if (k <= n && n <= 21) {
        for (int i = 0; i < k; i++) PUT(digits[i]);
        for (int i = k; i < n; i++) PUT('0');
    } else if (0 < n && n <= 21) {
        for (int i = 0; i < n; i++) PUT(digits[i]);
        PUT('.');
        for (int i = n; i < k; i++) PUT(digits[i]);
    } else if (-6 < n && n <= 0) {
        PUT('0');
        PUT('.');
        for (int i = 0; i < -n; i++) PUT('0');
        for (int i = 0; i < k; i++) PUT(digits[i]);
    } else {
        PUT(digits[0]);
        if (k > 1) {
            PUT('.');
            for (int i = 1; i < k; i++) PUT(digits[i]);
        }
        PUT('e');
        o += (size_t)snprintf(buf + o, cap - o, "%+d", n - 1);
    }
#undef PUT
    buf[o < cap ? o : cap - 1] = '\0';
}

int my_custom_task_execute(taas_ctx *ctx, const my_custom_task_input *in,
                           my_custom_task_output *out)
{
    char number[40];

    taas_progress(ctx, 0.5, "Processing...");
    format_number(number, sizeof number, in->param2);
    out->result = taas_printf(ctx, "Processed %s with %s", in->param1, number);
    if (!out->result)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    return 0;
}
