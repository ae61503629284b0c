/* libatom's repositories: open a repository, init, publish, list, resolve, verify, materialise,
 * fetch into a store, and the error paths (NULL handles, bad arguments, missing atoms). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atom.h"
#include "check.h"

static int contains(const char *haystack, const char *needle)
{
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

static void check_error_contains(const char *needle)
{
    char *message = NULL;
    CHECK(atom_last_error_message(&message) == ATOM_STATUS_OK);
    CHECK(contains(message, needle));
    if (!contains(message, needle))
        fprintf(stderr, "  message: %s\n", message ? message : "(null)");
    atom_string_free(message);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s <example atom> <git repository with atoms> <scratch directory>\n", argv[0]);
        return 2;
    }
    const char *repo_path = argv[2];
    char cache[4096], store_dir[4096];
    snprintf(cache, sizeof cache, "%s/cache", argv[3]);
    snprintf(store_dir, sizeof store_dir, "%s/store", argv[3]);

    atom_repo *repo = NULL;
    CHECK(atom_repo_open("/nonexistent/repo", &repo) == ATOM_STATUS_GIT);
    CHECK(repo == NULL);
    check_error_contains("cannot open the git repository at /nonexistent/repo");
    CHECK(atom_repo_open(repo_path, NULL) == ATOM_STATUS_NULL_ARGUMENT);
    CHECK(atom_repo_open(repo_path, &repo) == ATOM_STATUS_OK);
    CHECK(repo != NULL);

    char *root = NULL, *genesis = NULL, *json = NULL;
    CHECK(atom_repo_init(repo, &root) == ATOM_STATUS_OK);
    CHECK(root != NULL && strlen(root) == 40);
    CHECK(atom_repo_genesis(repo, &genesis) == ATOM_STATUS_OK);
    CHECK_STR(genesis, root);

    /* Publish every atom of ekala.toml, then again: nothing changes. */
    CHECK(atom_repo_publish(repo, NULL, NULL, &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"label\":\"alpha\"") && contains(json, "\"created\":true"));
    atom_string_free(json);
    CHECK(atom_repo_publish(repo, "HEAD", "pkgs/a", &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"created\":false"));
    atom_string_free(json);
    CHECK(atom_repo_publish(repo, "HEAD", "nowhere", &json) == ATOM_STATUS_PUBLISH);
    check_error_contains("nowhere is not an atom in commit");

    CHECK(atom_repo_list(repo, NULL, &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"label\":\"alpha\",\"rev\":") || contains(json, "\"label\":\"alpha\""));
    CHECK(contains(json, "\"label\":\"beta\""));
    atom_string_free(json);
    CHECK(atom_repo_list(repo, "beta", &json) == ATOM_STATUS_OK);
    CHECK(!contains(json, "alpha") && contains(json, "\"version\":\"0.1.0\""));
    atom_string_free(json);

    char *id = NULL;
    CHECK(atom_id_compute(root, "alpha", &id) == ATOM_STATUS_OK);
    CHECK(atom_repo_resolve(repo, "alpha", "^1", &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"version\":\"1.0.0\"") && contains(json, id));
    atom_string_free(json);
    CHECK(atom_repo_resolve(repo, "alpha", NULL, &json) == ATOM_STATUS_OK);
    atom_string_free(json);
    CHECK(atom_repo_resolve(repo, "alpha", "^2", &json) == ATOM_STATUS_NOT_FOUND);
    CHECK(json == NULL);
    check_error_contains("no published version of alpha matches ^2 (published: 1.0.0)");
    CHECK(atom_repo_resolve(repo, "alpha", "^two", &json) == ATOM_STATUS_INVALID_ARGUMENT);
    CHECK(atom_repo_resolve(repo, "9alpha", "^1", &json) == ATOM_STATUS_INVALID_NAME);

    CHECK(atom_repo_verify(repo, "alpha", "1.0.0", id, &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"origin_checked\":true"));
    atom_string_free(json);
    CHECK(atom_repo_verify(repo, "alpha", "1.0.0", "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0", &json) ==
          ATOM_STATUS_VERIFY);
    check_error_contains("possible tampering");
    CHECK(atom_repo_verify(repo, "alpha", "7.0.0", NULL, &json) == ATOM_STATUS_NOT_FOUND);
    CHECK(atom_repo_verify(repo, "alpha", "1.0", NULL, &json) == ATOM_STATUS_INVALID_ARGUMENT);

    /* The content digest: its text form, the same on a second call, and the usual failures. */
    char *digest = NULL;
    CHECK(atom_repo_digest(repo, "alpha", "1.0.0", &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"digest\":\"blake3-") && contains(json, "\"version\":\"1.0.0\""));
    CHECK(atom_repo_digest(repo, "alpha", "1.0.0", &digest) == ATOM_STATUS_OK);
    CHECK_STR(digest, json);
    atom_string_free(digest);
    atom_string_free(json);
    CHECK(atom_repo_digest(repo, "beta", "0.1.0", &json) == ATOM_STATUS_OK);
    CHECK(contains(json, "\"digest\":\"blake3-"));
    atom_string_free(json);
    CHECK(atom_repo_digest(repo, "alpha", "7.0.0", &json) == ATOM_STATUS_NOT_FOUND);
    CHECK(json == NULL);
    CHECK(atom_repo_digest(repo, "alpha", "1.0", &json) == ATOM_STATUS_INVALID_ARGUMENT);

    char *dir = NULL;
    CHECK(atom_repo_materialize(repo, "alpha", "1.0.0", cache, &dir) == ATOM_STATUS_OK);
    if (dir != NULL) {
        char file[4200];
        struct stat st;
        snprintf(file, sizeof file, "%s/mod.nix", dir);
        CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode));
    }
    char *again = NULL;
    CHECK(atom_repo_materialize(repo, "alpha", "1.0.0", cache, &again) == ATOM_STATUS_OK);
    CHECK_STR(again, dir);
    atom_string_free(dir);
    atom_string_free(again);

    CHECK(atom_fetch(repo_path, store_dir, &json) == ATOM_STATUS_OK);
    CHECK(contains(json, root));
    atom_string_free(json);
    CHECK(atom_fetch("/nonexistent", store_dir, &json) == ATOM_STATUS_GIT);
    check_error_contains("does not exist");

    /* NULL and wrong handles are errors, never crashes. */
    CHECK(atom_repo_list(NULL, NULL, &json) == ATOM_STATUS_NULL_ARGUMENT);
    check_error_contains("argument `repo` is NULL");
    CHECK(atom_repo_genesis(repo, NULL) == ATOM_STATUS_NULL_ARGUMENT);
    /* Something that is not a repository handle (aligned, readable memory of another kind). */
    static unsigned long long not_a_handle[16];
    CHECK(atom_repo_list((const atom_repo *)(void *)not_a_handle, NULL, &json) == ATOM_STATUS_WRONG_HANDLE);
    check_error_contains("`repo` is not a repository handle");

    atom_string_free(id);
    atom_string_free(root);
    atom_string_free(genesis);
    atom_repo_free(repo);
    atom_repo_free(NULL);
    return finish();
}
