/* libatom against a real git server: list, resolve and fetch atoms by URL, and the failures
 * (an unreachable server, NULL arguments). Run with the URL of a repository that publishes
 * alpha 1.0.0, alpha 1.1.0 and beta 0.1.0, a scratch directory, and the URL of a closed port. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom.h"
#include "check.h"

static int contains(const char *haystack, const char *needle)
{
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s <url> <scratch directory> <url of a closed port> [<endless listing url> <delta bomb url>]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    const char *closed = argv[3];
    char store[4096];
    snprintf(store, sizeof store, "%s/store", argv[2]);

    char *json = NULL;
    CHECK(atom_remote_list(url, NULL, 10, &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"label\":\"alpha\"") && contains(json, "\"label\":\"beta\""));
    CHECK(contains(json, "\"root\":\""));
    atom_string_free(json);

    json = NULL;
    CHECK(atom_remote_list(url, "alpha", 10, &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"version\":\"1.1.0\"") && !contains(json, "beta"));
    atom_string_free(json);

    json = NULL;
    CHECK(atom_remote_resolve(url, "alpha", "~1.0", 10, &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"version\":\"1.0.0\"") && contains(json, "\"id\":\""));
    atom_string_free(json);

    json = NULL;
    CHECK(atom_remote_resolve(url, "alpha", "^9", 10, &json) == ATOM_STATUS_NOT_FOUND);
    CHECK(json == NULL);

    json = NULL;
    CHECK(atom_remote_fetch(url, store, "beta", NULL, 10, &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"status\":\"fetched\"") && contains(json, "\"label\":\"beta\""));
    CHECK(!contains(json, "\"label\":\"alpha\""));
    atom_string_free(json);

    /* The same store, then through atom_fetch (every atom). */
    json = NULL;
    CHECK(atom_fetch(url, store, &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"status\":\"unchanged\"") && contains(json, "\"version\":\"1.1.0\""));
    atom_string_free(json);

    /* Failures: a closed port, and NULL arguments. */
    json = NULL;
    CHECK(atom_remote_list(closed, NULL, 5, &json) == ATOM_STATUS_GIT);
    char *message = NULL;
    CHECK(atom_last_error_message(&message) == ATOM_STATUS_OK);
    CHECK(contains(message, "connection refused") && contains(message, closed));
    atom_string_free(message);
    /* Hostile servers: an endless ref listing and a pack whose delta claims 8 GiB. Each is an
       error naming its limit; the host process goes on. */
    if (argc >= 6) {
        json = NULL;
        CHECK(atom_remote_list(argv[4], NULL, 5, &json) == ATOM_STATUS_GIT && json == NULL);
        CHECK(atom_last_error_message(&message) == ATOM_STATUS_OK);
        CHECK(contains(message, "ref listing") && contains(message, "128 MiB"));
        atom_string_free(message);
        char bombed[4096];
        snprintf(bombed, sizeof bombed, "%s/bombed", argv[2]);
        CHECK(atom_remote_fetch(argv[5], bombed, NULL, NULL, 5, &json) == ATOM_STATUS_GIT);
        CHECK(atom_last_error_message(&message) == ATOM_STATUS_OK);
        CHECK(contains(message, "once inflated"));
        atom_string_free(message);
    }
    CHECK(atom_remote_list(NULL, NULL, 5, &json) == ATOM_STATUS_NULL_ARGUMENT);
    CHECK(atom_remote_fetch(url, NULL, NULL, NULL, 5, &json) == ATOM_STATUS_NULL_ARGUMENT);
    CHECK(atom_remote_resolve(url, "alpha", NULL, 5, NULL) == ATOM_STATUS_NULL_ARGUMENT);

    return finish();
}
