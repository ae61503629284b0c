/* libatom identity functions: ABI version, AtomId vectors of SPEC 1.3, label validation, and
 * the error model (NULL arguments, invalid UTF-8, per-thread last error, NULL outputs). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom.h"
#include "check.h"

/* The message of the last failure on this thread (caller frees), or NULL. */
static char *last_error(void)
{
    char *message = NULL;
    CHECK(atom_last_error_message(&message) == ATOM_STATUS_OK);
    return message;
}

static void check_last_error(const char *expected)
{
    char *message = last_error();
    CHECK_STR(message, expected);
    atom_string_free(message);
}

static void test_abi_version(void)
{
    uint32_t version = atom_abi_version();
    CHECK(version >> 16 == ATOM_ABI_MAJOR);
    CHECK((version & 0xffff) >= ATOM_ABI_MINOR);
}

static void test_no_error_yet(void)
{
    /* Nothing has failed on this thread yet. */
    char *message = (char *)"sentinel";
    CHECK(atom_last_error_message(&message) == ATOM_STATUS_OK);
    CHECK(message == NULL);
}

static void test_id_vectors(void)
{
    static const char *vectors[][3] = {
        {"4abbd2644bc3585e9be95deb277ccf48f6ed26ac", "nix-lock",
         "r3rlam6bd31t9i04ggug7avs8vf8981q7a3b6gobemk1gfs50qm0"},
        {"68b63bd131acd23bdfd57983fe85ba7c092ce02f", "atom-nix",
         "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0"},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        char *id = NULL;
        CHECK(atom_id_compute(vectors[i][0], vectors[i][1], &id) == ATOM_STATUS_OK);
        CHECK_STR(id, vectors[i][2]);
        if (id != NULL)
            printf("AtomId(%s, %s) = %s\n", vectors[i][0], vectors[i][1], id);
        atom_string_free(id);
    }
}

static void test_id_parse(void)
{
    static const uint8_t expected[32] = {
        0xda, 0x65, 0x5c, 0x8b, 0x24, 0x5e, 0x69, 0xec, 0xa1, 0x6e, 0x9f, 0xb5, 0xb8, 0x00, 0x82, 0xb1,
        0xb1, 0x16, 0x03, 0x7d, 0x65, 0xc4, 0xfa, 0x71, 0x24, 0xc7, 0x6b, 0xb8, 0xdf, 0x5e, 0x8d, 0xfe,
    };
    uint8_t digest[32] = {0};
    CHECK(atom_id_parse("r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0", digest) == ATOM_STATUS_OK);
    CHECK(memcmp(digest, expected, 32) == 0);

    CHECK(atom_id_parse("R9ILP2P4BPKUP8BEJUQRG042M6OHC0RTCN2FKS94OTLRHNQUHNV0", digest) ==
          ATOM_STATUS_INVALID_ID);
    CHECK(atom_id_parse("r9ilp2p4", digest) == ATOM_STATUS_INVALID_ID);
    check_last_error("invalid atom id \"r9ilp2p4\": an atom id is 52 base32hex characters encoding 32 "
                     "bytes, this one has 8 characters");
    CHECK(atom_id_parse(NULL, digest) == ATOM_STATUS_NULL_ARGUMENT);
    CHECK(atom_id_parse("r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0", NULL) ==
          ATOM_STATUS_NULL_ARGUMENT);
    check_last_error("argument `out_digest` is NULL");
}

static void test_null_arguments(void)
{
    char *id = (char *)"sentinel";
    CHECK(atom_id_compute("68b63bd131acd23bdfd57983fe85ba7c092ce02f", NULL, &id) == ATOM_STATUS_NULL_ARGUMENT);
    CHECK(id == NULL); /* outputs are cleared on failure */
    check_last_error("argument `label` is NULL");

    CHECK(atom_id_compute(NULL, "atom-nix", &id) == ATOM_STATUS_NULL_ARGUMENT);
    check_last_error("argument `root_hex` is NULL");

    CHECK(atom_id_compute("68b63bd131acd23bdfd57983fe85ba7c092ce02f", "atom-nix", NULL) ==
          ATOM_STATUS_NULL_ARGUMENT);
    check_last_error("argument `out_id` is NULL");

    CHECK(atom_label_validate(NULL, NULL) == ATOM_STATUS_NULL_ARGUMENT);
    CHECK(atom_last_error_message(NULL) == ATOM_STATUS_NULL_ARGUMENT);
    atom_string_free(NULL); /* a no-op */
}

static void test_invalid_input(void)
{
    char *id = NULL;
    CHECK(atom_id_compute("68b6", "atom-nix", &id) == ATOM_STATUS_INVALID_ROOT);
    check_last_error("invalid root \"68b6\": a root commit id has 40 hexadecimal digits, this one has 4 characters");

    CHECK(atom_id_compute("68b63bd131acd23bdfd57983fe85ba7c092ce02f", "9atom", &id) == ATOM_STATUS_INVALID_NAME);
    check_last_error("invalid label \"9atom\": cannot start with: '9'");
    CHECK(id == NULL);

    /* "ab" followed by a lone continuation byte. */
    CHECK(atom_label_validate("ab\x80", NULL) == ATOM_STATUS_INVALID_UTF8);
    check_last_error("argument `input` is not valid UTF-8 (invalid byte at offset 2)");
}

static void test_names(void)
{
    char *normalized = NULL;
    /* "cafe" + combining acute accent normalises (NFKC) to "café". */
    CHECK(atom_label_validate("cafe\xcc\x81", &normalized) == ATOM_STATUS_OK);
    CHECK_STR(normalized, "caf\xc3\xa9");
    atom_string_free(normalized);

    CHECK(atom_label_validate("Caf\xc3\xa9_au_lait-123", NULL) == ATOM_STATUS_OK);
    CHECK(atom_label_validate("a.b", NULL) == ATOM_STATUS_INVALID_NAME);
    check_last_error("invalid label \"a.b\": contains invalid characters: '.'");
    CHECK(atom_tag_validate("a.b:c", NULL) == ATOM_STATUS_OK);
    CHECK(atom_tag_validate("a..b", NULL) == ATOM_STATUS_INVALID_NAME);
    CHECK(atom_identifier_validate("a-b", NULL) == ATOM_STATUS_INVALID_NAME);
    check_last_error("invalid identifier \"a-b\": contains invalid characters: '-'");
    CHECK(atom_label_validate("", NULL) == ATOM_STATUS_INVALID_NAME);
    check_last_error("invalid label \"\": cannot be empty");
}

int main(void)
{
    test_abi_version();
    test_no_error_yet();
    test_id_vectors();
    test_id_parse();
    test_null_arguments();
    test_invalid_input();
    test_names();
    return finish();
}
