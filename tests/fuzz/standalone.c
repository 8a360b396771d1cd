/*
 * tests/fuzz/standalone.c - runs a fuzz target without libFuzzer, so any C
 * compiler builds it (the libgit2 fuzzers/standalone_driver.c scheme).
 *
 *   fuzz_<target> DIR|FILE...
 *
 * Calls LLVMFuzzerInitialize once (when the target defines it), then
 * LLVMFuzzerTestOneInput on the contents of every regular file under each
 * argument (directories are walked recursively, in sorted order, so a run
 * is repeatable). A missing argument is an error; an argument of the form
 * "?DIR" is optional and skipped when absent (the ../shared/data suites).
 * Each input is copied into a buffer of exactly its size, as libFuzzer
 * does, so AddressSanitizer sees a read one byte past the end.
 *
 * Exit status: 0 when every input ran, 1 on a usage or I/O error (a target
 * that finds a bug aborts, which ctest reports as a failure). At the end
 * the target's fuzz_standalone_cleanup(), when defined, releases what
 * LLVMFuzzerInitialize set up, so LeakSanitizer checks the whole run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
void fuzz_standalone_cleanup(void) __attribute__((weak));

static unsigned long g_inputs;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        fprintf(stderr, "fuzz: %s: read failed\n", path);
        free(buf);
        return -1;
    }
    /* Exactly `len` bytes, so an overread is caught. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    g_inputs++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode))
        return run_file(path);
    if (!S_ISDIR(st.st_mode))
        return 0;
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') /* ., .., and dotfiles such as .gitkeep */
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            size_t plen = strlen(path) + strlen(names[i]) + 2;
            char *child = malloc(plen);
            if (!child) {
                rc = -1;
            } else {
                snprintf(child, plen, "%s/%s", path, names[i]);
                rc = run_path(child);
                free(child);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE|?DIR...\n", argv[0]);
        return 1;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *p = argv[i];
        if (p[0] == '?') {
            struct stat st;
            if (stat(p + 1, &st) != 0) {
                fprintf(stderr, "fuzz: %s absent, skipped\n", p + 1);
                continue;
            }
            p++;
        }
        rc = run_path(p);
    }
    if (fuzz_standalone_cleanup)
        fuzz_standalone_cleanup();
    fprintf(stderr, "fuzz: %lu inputs %s\n", g_inputs, rc == 0 ? "ran" : "(stopped on error)");
    return rc == 0 ? 0 : 1;
}
