/* scram.c - SCRAM-SHA-256 server side (RFC 5802/7677) as PostgreSQL speaks it, plus its verifier format; pure apart from the random nonce and salt. */
#include "scram.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define NONCE_RAW_LEN 18    /* PostgreSQL's SCRAM_RAW_NONCE_LEN */
#define SALT_LEN 16         /* PostgreSQL's SCRAM_DEFAULT_SALT_LEN */
#define MAX_MSG 4096        /* no legitimate SCRAM message comes near this */

enum { ST_START, ST_FIRST_SENT, ST_DONE };

struct scram_state {
    int            step;
    int            mock;        /* unknown user: go through the motions, then fail */
    scram_verifier v;
    char           gs2[4];      /* "n,," or "y,,": the channel binding must echo it */
    char          *client_first_bare;
    char          *server_first;
    char          *nonce;       /* client nonce + server nonce */
};

/* ---- base64 --------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void scram_b64_encode(buf *out, const void *p, size_t n)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = { B64[v >> 18 & 63], B64[v >> 12 & 63],
                      i + 1 < n ? B64[v >> 6 & 63] : '=', i + 2 < n ? B64[v & 63] : '=' };
        buf_append(out, q, 4);
    }
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long scram_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int pad = 0;
        if (last && s[i + 3] == '=')
            pad = s[i + 2] == '=' ? 2 : 1;
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            int d = k >= 4 - pad ? 0 : b64_val(s[i + (size_t)k]);
            if (d < 0)
                return -1;
            v = v << 6 | (uint32_t)d;
        }
        /* Canonical form only: the bits that padding drops must be zero. */
        if ((pad == 1 && (v & 0xFF)) || (pad == 2 && (v & 0xFFFF)))
            return -1;
        size_t k = 3 - (size_t)pad;
        if (o + k > cap)
            return -1;
        for (size_t j = 0; j < k; j++)
            out[o++] = (uint8_t)(v >> (16 - 8 * j));
    }
    return (long)o;
}

int scram_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* ---- keys ------------------------------------------------------------------ */

static int hmac(const uint8_t *key, size_t klen, const void *msg, size_t n, uint8_t out[SCRAM_KEY_LEN])
{
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len) || len != SCRAM_KEY_LEN)
        return -1;
    return 0;
}

/* SaltedPassword -> StoredKey, ServerKey (RFC 5802 section 3). */
static int derive_keys(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                       uint8_t stored[SCRAM_KEY_LEN], uint8_t server[SCRAM_KEY_LEN])
{
    uint8_t salted[SCRAM_KEY_LEN], client[SCRAM_KEY_LEN];
    size_t plen = strlen(password);
    if (iterations < 1 || plen > INT_MAX)
        return -1;
    int rc = -1;
    if (PKCS5_PBKDF2_HMAC(password, (int)plen, salt, (int)salt_len, iterations, EVP_sha256(),
                          SCRAM_KEY_LEN, salted) == 1 &&
        hmac(salted, sizeof salted, "Client Key", 10, client) == 0 &&
        SHA256(client, sizeof client, stored) != NULL &&
        hmac(salted, sizeof salted, "Server Key", 10, server) == 0)
        rc = 0;
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client, sizeof client);
    return rc;
}

int scram_parse_verifier(const char *text, scram_verifier *out)
{
    static const char pre[] = "SCRAM-SHA-256$";
    memset(out, 0, sizeof *out);
    if (!text || strncmp(text, pre, sizeof pre - 1) != 0)
        return -1;
    const char *p = text + sizeof pre - 1;
    long it = 0;
    if (*p < '1' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        it = it * 10 + (*p++ - '0');
        if (it > INT_MAX)
            return -1;
    }
    if (*p++ != ':')
        return -1;
    const char *salt = p, *dollar = strchr(p, '$');
    if (!dollar)
        return -1;
    long sl = scram_b64_decode(salt, (size_t)(dollar - salt), out->salt, sizeof out->salt);
    if (sl <= 0)
        return -1;
    const char *sk = dollar + 1, *colon = strchr(sk, ':');
    if (!colon)
        return -1;
    if (scram_b64_decode(sk, (size_t)(colon - sk), out->stored_key, SCRAM_KEY_LEN) != SCRAM_KEY_LEN ||
        scram_b64_decode(colon + 1, strlen(colon + 1), out->server_key, SCRAM_KEY_LEN) != SCRAM_KEY_LEN)
        return -1;
    out->iterations = (int)it;
    out->salt_len = (size_t)sl;
    return 0;
}

int scram_make_verifier_salt(const char *password, const uint8_t *salt, size_t salt_len,
                             int iterations, buf *out)
{
    uint8_t stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
    if (salt_len == 0 || salt_len > SCRAM_MAX_SALT ||
        derive_keys(password, salt, salt_len, iterations, stored, server) < 0)
        return -1;
    buf_printf(out, "SCRAM-SHA-256$%d:", iterations);
    scram_b64_encode(out, salt, salt_len);
    buf_putc(out, '$');
    scram_b64_encode(out, stored, sizeof stored);
    buf_putc(out, ':');
    scram_b64_encode(out, server, sizeof server);
    return out->oom ? -1 : 0;
}

int scram_make_verifier(const char *password, int iterations, buf *out)
{
    uint8_t salt[SALT_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1)
        return -1;
    return scram_make_verifier_salt(password, salt, sizeof salt, iterations, out);
}

int scram_check_password(const char *verifier, const char *password)
{
    scram_verifier v;
    uint8_t stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
    if (scram_parse_verifier(verifier, &v) < 0 ||
        derive_keys(password, v.salt, v.salt_len, v.iterations, stored, server) < 0)
        return 0;
    /* Both keys, so a verifier whose halves were tampered with independently cannot pass. */
    int ok = scram_ct_equal(stored, v.stored_key, SCRAM_KEY_LEN) &
             scram_ct_equal(server, v.server_key, SCRAM_KEY_LEN);
    return ok;
}

/* ---- the exchange ------------------------------------------------------------ */

/* Mock salts come from a per-process secret so that repeated attempts for one unknown user see
 * the same salt, as they would for a real one (PostgreSQL does the same with its mock nonce). */
static uint8_t mock_secret[SCRAM_KEY_LEN];
static int mock_secret_ok;
static pthread_once_t mock_once = PTHREAD_ONCE_INIT;

static void mock_init(void) { mock_secret_ok = RAND_bytes(mock_secret, sizeof mock_secret) == 1; }

scram_state *scram_new(const char *verifier, const char *user)
{
    scram_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (!verifier || scram_parse_verifier(verifier, &s->v) < 0) {
        /* Made-up salt and keys: the client sees a normal exchange that cannot succeed. */
        uint8_t h[SCRAM_KEY_LEN];
        const char *u = user ? user : "";
        pthread_once(&mock_once, mock_init);
        s->mock = 1;
        s->v.iterations = SCRAM_DEFAULT_ITERATIONS;
        s->v.salt_len = SALT_LEN;
        if (!mock_secret_ok || hmac(mock_secret, sizeof mock_secret, u, strlen(u), h) < 0 ||
            RAND_bytes(s->v.stored_key, SCRAM_KEY_LEN) != 1 ||
            RAND_bytes(s->v.server_key, SCRAM_KEY_LEN) != 1) {
            free(s);
            return NULL;
        }
        memcpy(s->v.salt, h, SALT_LEN);
    }
    return s;
}

void scram_free(scram_state *s)
{
    if (!s)
        return;
    free(s->client_first_bare);
    free(s->server_first);
    free(s->nonce);
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

static scram_status fail(char *err, size_t errlen, scram_status st, const char *msg)
{
    if (errlen)
        snprintf(err, errlen, "%s", msg);
    return st;
}

/* RFC 5802 "printable": %x21-7E except ','. */
static int printable(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7E || p[i] == ',')
            return 0;
    return 1;
}

static char *dup_n(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

/* The attribute "k=" at *p; returns the value's length and advances *p past it and one ','. */
static int take_attr(const char **p, const char *end, char k, const char **val, size_t *vlen)
{
    if (end - *p < 2 || (*p)[0] != k || (*p)[1] != '=')
        return -1;
    const char *v = *p + 2, *c = memchr(v, ',', (size_t)(end - v));
    *val = v;
    *vlen = (size_t)((c ? c : end) - v);
    *p = c ? c + 1 : end;
    return 0;
}

scram_status scram_server_first_nonce(scram_state *s, const char *msg, size_t len,
                                      const char *server_nonce, buf *out, char *err, size_t errlen)
{
    if (s->step != ST_START)
        return fail(err, errlen, SCRAM_PROTOCOL, "unexpected SCRAM client-first-message");
    if (len > MAX_MSG || memchr(msg, '\0', len))
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (invalid length or NUL)");
    if (!printable(server_nonce, strlen(server_nonce)))
        return fail(err, errlen, SCRAM_INTERNAL, "invalid server nonce");
    const char *p = msg, *end = msg + len;
    /* gs2-header: we never offer SCRAM-SHA-256-PLUS, so "p=" is a client error. */
    if (len < 3 || (p[0] != 'n' && p[0] != 'y'))
        return fail(err, errlen, SCRAM_PROTOCOL,
                    p < end && p[0] == 'p' ? "channel binding was requested but is not supported"
                                           : "malformed SCRAM message (unexpected channel-binding flag)");
    if (p[1] != ',')
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (comma expected)");
    if (p[2] == 'a')
        return fail(err, errlen, SCRAM_PROTOCOL, "client uses authorization identity, but it is not supported");
    if (p[2] != ',')
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (unexpected attribute in gs2 header)");
    memcpy(s->gs2, p, 3);
    s->gs2[3] = '\0';
    const char *bare = p + 3;
    p = bare;
    if (p < end && *p == 'm')
        return fail(err, errlen, SCRAM_PROTOCOL, "client requires an unsupported SCRAM extension");
    const char *v;
    size_t vl;
    /* The user name is ignored, as PostgreSQL does: the startup packet already named the role. */
    if (take_attr(&p, end, 'n', &v, &vl) < 0 || p == end)
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (username expected)");
    if (take_attr(&p, end, 'r', &v, &vl) < 0 || !printable(v, vl))
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (client nonce expected)");
    /* Any further attributes are extensions we do not know; RFC 5802 says ignore them. */

    free(s->client_first_bare);
    free(s->nonce);
    free(s->server_first);
    s->server_first = NULL;
    size_t sn = strlen(server_nonce);
    s->client_first_bare = dup_n(bare, (size_t)(end - bare));
    s->nonce = malloc(vl + sn + 1);
    if (!s->client_first_bare || !s->nonce)
        return fail(err, errlen, SCRAM_INTERNAL, "out of memory");
    memcpy(s->nonce, v, vl);
    memcpy(s->nonce + vl, server_nonce, sn + 1);

    buf sf;
    buf_init(&sf);
    buf_printf(&sf, "r=%s,s=", s->nonce);
    scram_b64_encode(&sf, s->v.salt, s->v.salt_len);
    buf_printf(&sf, ",i=%d", s->v.iterations);
    if (sf.oom) {
        buf_free(&sf);
        return fail(err, errlen, SCRAM_INTERNAL, "out of memory");
    }
    buf_append(out, sf.data, sf.len);
    s->server_first = buf_detach(&sf, NULL);
    if (!s->server_first || out->oom)
        return fail(err, errlen, SCRAM_INTERNAL, "out of memory");
    s->step = ST_FIRST_SENT;
    return SCRAM_OK;
}

scram_status scram_server_first(scram_state *s, const char *msg, size_t len, buf *out,
                                char *err, size_t errlen)
{
    uint8_t raw[NONCE_RAW_LEN];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return fail(err, errlen, SCRAM_INTERNAL, "could not generate random nonce");
    buf nb;
    buf_init(&nb);
    scram_b64_encode(&nb, raw, sizeof raw);
    buf_putc(&nb, '\0');
    scram_status st = nb.oom ? fail(err, errlen, SCRAM_INTERNAL, "out of memory")
                             : scram_server_first_nonce(s, msg, len, nb.data, out, err, errlen);
    buf_free(&nb);
    return st;
}

scram_status scram_server_final(scram_state *s, const char *msg, size_t len, buf *out,
                                char *err, size_t errlen)
{
    if (s->step != ST_FIRST_SENT)
        return fail(err, errlen, SCRAM_PROTOCOL, "unexpected SCRAM client-final-message");
    s->step = ST_DONE;   /* one attempt per exchange, whatever happens next */
    if (len > MAX_MSG || memchr(msg, '\0', len))
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (invalid length or NUL)");
    const char *p = msg, *end = msg + len, *v;
    size_t vl;
    if (take_attr(&p, end, 'c', &v, &vl) < 0)
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (channel binding expected)");
    uint8_t cb[16];
    long cbl = scram_b64_decode(v, vl, cb, sizeof cb);
    if (cbl != 3 || memcmp(cb, s->gs2, 3) != 0)
        return fail(err, errlen, SCRAM_PROTOCOL, "SCRAM channel binding check failed");
    if (take_attr(&p, end, 'r', &v, &vl) < 0)
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (nonce expected)");
    if (vl != strlen(s->nonce) || memcmp(v, s->nonce, vl) != 0)
        return fail(err, errlen, SCRAM_PROTOCOL, "SCRAM nonce mismatch");
    /* Skip extensions up to the proof, which must come last. */
    const char *proof_at = NULL;
    while (p < end) {
        if (end - p >= 2 && p[0] == 'p' && p[1] == '=') {
            proof_at = p;
            break;
        }
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c)
            break;
        p = c + 1;
    }
    if (!proof_at || proof_at == msg || proof_at[-1] != ',')
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (proof expected)");
    uint8_t proof[SCRAM_KEY_LEN + 3];
    if (scram_b64_decode(proof_at + 2, (size_t)(end - proof_at - 2), proof, sizeof proof) != SCRAM_KEY_LEN)
        return fail(err, errlen, SCRAM_PROTOCOL, "malformed SCRAM message (invalid proof)");

    /* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
    buf am;
    buf_init(&am);
    buf_puts(&am, s->client_first_bare);
    buf_putc(&am, ',');
    buf_puts(&am, s->server_first);
    buf_putc(&am, ',');
    buf_append(&am, msg, (size_t)(proof_at - 1 - msg));
    uint8_t sig[SCRAM_KEY_LEN], key[SCRAM_KEY_LEN], hashed[SCRAM_KEY_LEN];
    if (am.oom || hmac(s->v.stored_key, SCRAM_KEY_LEN, am.data, am.len, sig) < 0) {
        buf_free(&am);
        return fail(err, errlen, SCRAM_INTERNAL, "out of memory");
    }
    for (int i = 0; i < SCRAM_KEY_LEN; i++)
        key[i] = proof[i] ^ sig[i];
    int ok = SHA256(key, sizeof key, hashed) != NULL &&
             scram_ct_equal(hashed, s->v.stored_key, SCRAM_KEY_LEN) && !s->mock;
    scram_status st = SCRAM_FAIL;
    if (ok) {
        uint8_t ssig[SCRAM_KEY_LEN];
        if (hmac(s->v.server_key, SCRAM_KEY_LEN, am.data, am.len, ssig) < 0) {
            st = fail(err, errlen, SCRAM_INTERNAL, "out of memory");
        } else {
            buf_puts(out, "v=");
            scram_b64_encode(out, ssig, sizeof ssig);
            st = out->oom ? fail(err, errlen, SCRAM_INTERNAL, "out of memory") : SCRAM_OK;
        }
    } else {
        fail(err, errlen, SCRAM_FAIL, "password authentication failed");
    }
    buf_free(&am);
    OPENSSL_cleanse(key, sizeof key);
    return st;
}
