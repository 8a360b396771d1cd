/*
 * tests/tasks/tasks_test_util.h - small file-system helpers for the task
 * tests. Paths are "<dir>/<rel>"; every helper fails the test on error.
 */
#ifndef TAAS_TESTS_TASKS_UTIL_H
#define TAAS_TESTS_TASKS_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Remove a tree without following symbolic links. */
void tt_rm_rf(const char *dir);
void tt_mkdirf(const char *dir, const char *rel);
void tt_write_file(const char *dir, const char *rel, const char *text);
void tt_write_bytes(const char *dir, const char *rel, const char *data, size_t n);
void tt_symlinkf(const char *target, const char *dir, const char *rel);
bool tt_exists(const char *dir, const char *rel);  /* lstat, so links count */
bool tt_is_dir(const char *dir, const char *rel);
bool tt_is_reg(const char *dir, const char *rel);
/* The whole file, malloc'd and NUL-terminated (caller frees), or NULL. */
char *tt_read_file(const char *dir, const char *rel, size_t *len);
/* Number of entries in a directory, "." and ".." excluded. */
size_t tt_count_entries(const char *dir, const char *rel);
/* A count of every entry of the tree (recursively, links not followed). */
size_t tt_count_tree(const char *dir);

#endif
