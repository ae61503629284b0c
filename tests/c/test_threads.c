/* libatom from several threads at once: every function may be called concurrently, the last
 * error is kept per thread, and one repository handle may be shared (its calls are serialised). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom.h"
#include "check.h"

#define THREADS 8
#define ROUNDS 200

static atom_repo *shared_repo;

struct result {
    int failures;
};

static void *work(void *arg)
{
    struct result *result = arg;
    for (int i = 0; i < ROUNDS; i++) {
        char *id = NULL, *message = NULL, *json = NULL;
        if (atom_id_compute("68b63bd131acd23bdfd57983fe85ba7c092ce02f", "atom-nix", &id) != ATOM_STATUS_OK ||
            strcmp(id, "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0") != 0)
            result->failures++;
        atom_string_free(id);

        /* Each thread's own failure is the one it reads back, whatever the others do. */
        char bad[48];
        snprintf(bad, sizeof bad, "9bad%d", i);
        if (atom_label_validate(bad, NULL) != ATOM_STATUS_INVALID_NAME)
            result->failures++;
        char expected[96];
        snprintf(expected, sizeof expected, "invalid label \"%s\": cannot start with: '9'", bad);
        if (atom_last_error_message(&message) != ATOM_STATUS_OK || message == NULL || strcmp(message, expected) != 0)
            result->failures++;
        atom_string_free(message);

        if (atom_repo_resolve(shared_repo, "alpha", "^1", &json) != ATOM_STATUS_OK || strstr(json, "1.0.0") == NULL)
            result->failures++;
        atom_string_free(json);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s <example atom> <git repository with atoms> ...\n", argv[0]);
        return 2;
    }
    char *published = NULL;
    CHECK(atom_repo_open(argv[2], &shared_repo) == ATOM_STATUS_OK);
    CHECK(atom_repo_publish(shared_repo, NULL, "pkgs/a", &published) == ATOM_STATUS_OK);
    atom_string_free(published);

    pthread_t threads[THREADS];
    struct result results[THREADS];
    memset(results, 0, sizeof results);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&threads[t], NULL, work, &results[t]) == 0);
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
        CHECK(results[t].failures == 0);
    }
    atom_repo_free(shared_repo);
    return finish();
}
