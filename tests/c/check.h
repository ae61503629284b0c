/* A minimal test harness for the C programs that exercise libatom: CHECK records a result and
 * prints failures with their line; finish() prints "N passed, N failed" and gives the exit code. */
#ifndef ATOM_TEST_CHECK_H
#define ATOM_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks_passed = 0;
static int checks_failed = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            checks_passed++;                                                     \
        } else {                                                                 \
            checks_failed++;                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECK_STR(actual, expected)                                                          \
    do {                                                                                     \
        const char *a_ = (actual), *e_ = (expected);                                         \
        if (a_ != NULL && strcmp(a_, e_) == 0) {                                             \
            checks_passed++;                                                                 \
        } else {                                                                             \
            checks_failed++;                                                                 \
            fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, e_, \
                    a_ ? a_ : "(null)");                                                     \
        }                                                                                    \
    } while (0)

static int finish(void)
{
    printf("%d passed, %d failed\n", checks_passed, checks_failed);
    return checks_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
