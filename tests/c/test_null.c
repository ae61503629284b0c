/* Every libatom function given NULL for each required pointer argument: a status and a message
 * naming the argument, never a crash; outputs stay NULL. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "atom.h"
#include "check.h"

static void expect_null(atom_status status, const char *argument, int line)
{
    char expected[128], *message = NULL;
    snprintf(expected, sizeof expected, "argument `%s` is NULL", argument);
    atom_last_error_message(&message);
    if (status != ATOM_STATUS_NULL_ARGUMENT || message == NULL || strcmp(message, expected) != 0) {
        checks_failed++;
        fprintf(stderr, "line %d: expected NULL_ARGUMENT for `%s`, got %d (%s)\n", line, argument, (int)status,
                message ? message : "no message");
    } else {
        checks_passed++;
    }
    atom_string_free(message);
}

#define NULL_ARG(call, argument) expect_null((call), (argument), __LINE__)

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s <example atom> <git repository with atoms> ...\n", argv[0]);
        return 2;
    }
    char *out = NULL;
    uint8_t digest[32];
    atom_repo *repo = NULL;
    CHECK(atom_repo_open(argv[2], &repo) == ATOM_STATUS_OK);

    NULL_ARG(atom_label_validate(NULL, &out), "input");
    NULL_ARG(atom_tag_validate(NULL, &out), "input");
    NULL_ARG(atom_identifier_validate(NULL, &out), "input");
    NULL_ARG(atom_id_compute(NULL, "a", &out), "root_hex");
    NULL_ARG(atom_id_compute("68b63bd131acd23bdfd57983fe85ba7c092ce02f", NULL, &out), "label");
    NULL_ARG(atom_id_compute("68b63bd131acd23bdfd57983fe85ba7c092ce02f", "a", NULL), "out_id");
    NULL_ARG(atom_id_parse(NULL, digest), "id");
    NULL_ARG(atom_manifest_parse(NULL, "p", &out), "text");
    NULL_ARG(atom_manifest_parse("", NULL, &out), "path");
    NULL_ARG(atom_manifest_read(NULL, &out), "path");
    NULL_ARG(atom_set_manifest_parse(NULL, "p", &out), "text");
    NULL_ARG(atom_lock_parse(NULL, "p", &out), "text");
    NULL_ARG(atom_lock_render(NULL, &out), "json");
    NULL_ARG(atom_uri_parse(NULL, &out), "uri");
    NULL_ARG(atom_repo_open(NULL, &repo == NULL ? NULL : &(atom_repo *){NULL}), "path");
    NULL_ARG(atom_repo_init(NULL, &out), "repo");
    NULL_ARG(atom_repo_genesis(NULL, &out), "repo");
    NULL_ARG(atom_repo_list(NULL, NULL, &out), "repo");
    NULL_ARG(atom_repo_list(repo, NULL, NULL), "out_json");
    NULL_ARG(atom_repo_resolve(repo, NULL, NULL, &out), "label");
    NULL_ARG(atom_repo_resolve(repo, "alpha", NULL, NULL), "out_json");
    NULL_ARG(atom_repo_verify(repo, NULL, "1.0.0", NULL, &out), "label");
    NULL_ARG(atom_repo_verify(repo, "alpha", NULL, NULL, &out), "version");
    NULL_ARG(atom_repo_digest(NULL, "alpha", "1.0.0", &out), "repo");
    NULL_ARG(atom_repo_digest(repo, NULL, "1.0.0", &out), "label");
    NULL_ARG(atom_repo_digest(repo, "alpha", NULL, &out), "version");
    NULL_ARG(atom_repo_digest(repo, "alpha", "1.0.0", NULL), "out_json");
    NULL_ARG(atom_repo_signatures(NULL, "alpha", "1.0.0", &out), "repo");
    NULL_ARG(atom_repo_signatures(repo, NULL, "1.0.0", &out), "label");
    NULL_ARG(atom_repo_signatures(repo, "alpha", NULL, &out), "version");
    NULL_ARG(atom_repo_signatures(repo, "alpha", "1.0.0", NULL), "out_json");
    NULL_ARG(atom_repo_publish(NULL, NULL, NULL, &out), "repo");
    NULL_ARG(atom_repo_materialize(repo, "alpha", "1.0.0", NULL, &out), "cache_dir");
    NULL_ARG(atom_repo_materialize(repo, NULL, "1.0.0", "/tmp", &out), "label");
    NULL_ARG(atom_fetch(NULL, "/tmp", &out), "url");
    NULL_ARG(atom_fetch("/tmp", NULL, &out), "store_dir");
    CHECK(out == NULL);

    atom_repo_free(repo);
    return finish();
}
