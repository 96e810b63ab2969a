/* scram.h - SCRAM-SHA-256 server side (RFC 5802/7677) as PostgreSQL speaks it, plus its verifier format; pure apart from the random nonce and salt. */
#ifndef LC_SCRAM_H
#define LC_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The SASL mechanism name sent in AuthenticationSASL. Channel binding (-PLUS) is not offered. */
#define SCRAM_MECHANISM "SCRAM-SHA-256"
#define SCRAM_KEY_LEN 32
#define SCRAM_MAX_SALT 64
/* PostgreSQL's default iteration count for new verifiers (scram_iterations). */
#define SCRAM_DEFAULT_ITERATIONS 4096

typedef enum {
    SCRAM_OK = 0,     /* step succeeded; *out holds the next server message */
    SCRAM_FAIL,       /* wrong password (or unknown user): reply 28P01 "password authentication failed" */
    SCRAM_PROTOCOL,   /* malformed or out-of-order message: reply 08P01 with the err text */
    SCRAM_INTERNAL,   /* out of memory or no randomness: reply 58000 */
} scram_status;

/* A parsed stored verifier: plain data.
 * Text form: SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64> */
typedef struct scram_verifier {
    int     iterations;
    uint8_t salt[SCRAM_MAX_SALT];
    size_t  salt_len;
    uint8_t stored_key[SCRAM_KEY_LEN];
    uint8_t server_key[SCRAM_KEY_LEN];
} scram_verifier;

/* Returns 0, or -1 when text is not a well-formed verifier. */
int scram_parse_verifier(const char *text, scram_verifier *out);
/* Derive a verifier from a password with a fresh random 16-byte salt; appends its text form to out.
 * Passwords are used as raw bytes (no SASLprep): identical to PostgreSQL for ASCII passwords. */
int scram_make_verifier(const char *password, int iterations, buf *out);
/* The same with a given salt (deterministic: tests, reproducible configs). Returns 0 or -1. */
int scram_make_verifier_salt(const char *password, const uint8_t *salt, size_t salt_len,
                             int iterations, buf *out);
/* Does password match the verifier text? For AuthenticationCleartextPassword. 1 yes, 0 no. */
int scram_check_password(const char *verifier, const char *password);

/* ---- the exchange ------------------------------------------------------- */

typedef struct scram_state scram_state;

/* Begin an exchange for user, whose stored verifier is given. With verifier NULL (unknown user)
 * or unparseable, the exchange runs on a made-up salt (stable per user name) and always ends in
 * SCRAM_FAIL, so a client cannot tell a missing user from a wrong password. NULL only when out of
 * memory or without randomness. */
scram_state *scram_new(const char *verifier, const char *user);
void scram_free(scram_state *s);

/* client-first-message (the SASLInitialResponse data) -> server-first-message appended to out. */
scram_status scram_server_first(scram_state *s, const char *msg, size_t len, buf *out,
                                char *err, size_t errlen);
/* The same with a fixed server nonce part (printable, no ','), for test vectors. */
scram_status scram_server_first_nonce(scram_state *s, const char *msg, size_t len,
                                      const char *server_nonce, buf *out, char *err, size_t errlen);
/* client-final-message (the SASLResponse data) -> server-final-message "v=..." appended to out
 * (send it as AuthenticationSASLFinal, then AuthenticationOk). */
scram_status scram_server_final(scram_state *s, const char *msg, size_t len, buf *out,
                                char *err, size_t errlen);

/* ---- helpers ------------------------------------------------------------- */

/* Standard base64 with padding, appended to out. */
void scram_b64_encode(buf *out, const void *p, size_t n);
/* Strict decode: length a multiple of 4, only the standard alphabet, '=' only as final padding,
 * unused bits zero. Returns the decoded length, or -1 (also when it would exceed cap). */
long scram_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap);
/* 1 when equal; time depends only on n. */
int scram_ct_equal(const void *a, const void *b, size_t n);

#endif
