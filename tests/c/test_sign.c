/* libatom and signed atoms: the signatures of a published atom, checked in-process, with the
 * key that made them; an unsigned atom has none. */
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
    if (argc < 6) {
        fprintf(stderr, "usage: %s <example> <repository> <scratch> <signed repository> <fingerprint>\n", argv[0]);
        return 2;
    }
    const char *fingerprint = argv[5];
    char expected[256];
    snprintf(expected, sizeof expected, "\"fingerprint\":\"%s\"", fingerprint);

    atom_repo *signed_repo = NULL;
    CHECK(atom_repo_open(argv[4], &signed_repo) == ATOM_STATUS_OK);
    char *json = NULL;
    CHECK(atom_repo_signatures(signed_repo, "alpha", "1.0.0", &json) == ATOM_STATUS_OK);
    CHECK(contains(json, expected));
    CHECK(contains(json, "\"digest\":\"blake3-"));
    CHECK(contains(json, "\"invalid\":[]"));
    CHECK(contains(json, "\"key\":\"ssh-ed25519 "));
    if (!contains(json, expected))
        fprintf(stderr, "  got: %s\n  expected: %s\n", json ? json : "(null)", expected);
    atom_string_free(json);

    /* The digest it reports is the one atom_repo_digest computes. */
    char *digest = NULL;
    CHECK(atom_repo_digest(signed_repo, "alpha", "1.0.0", &digest) == ATOM_STATUS_OK);
    const char *at = digest ? strstr(digest, "\"digest\":\"") : NULL;
    CHECK(at != NULL);
    CHECK(atom_repo_signatures(signed_repo, "alpha", "1.0.0", &json) == ATOM_STATUS_OK);
    if (at != NULL) {
        char field[128] = {0};
        strncpy(field, at, 84);
        CHECK(contains(json, field));
    }
    atom_string_free(json);
    atom_string_free(digest);

    CHECK(atom_repo_signatures(signed_repo, "alpha", "9.0.0", &json) == ATOM_STATUS_NOT_FOUND);
    CHECK(json == NULL);
    CHECK(atom_repo_signatures(signed_repo, "alpha", "1.0", &json) == ATOM_STATUS_INVALID_ARGUMENT);
    atom_repo_free(signed_repo);

    /* An atom published without a key: no signer. */
    atom_repo *repo = NULL;
    CHECK(atom_repo_open(argv[2], &repo) == ATOM_STATUS_OK);
    CHECK(atom_repo_publish(repo, NULL, NULL, &json) == ATOM_STATUS_OK);
    atom_string_free(json);
    CHECK(atom_repo_signatures(repo, "alpha", "1.0.0", &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"signers\":[]"));
    atom_string_free(json);
    atom_repo_free(repo);

    return finish();
}
