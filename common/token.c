/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cfg.h"
#include "hex.h"
#include "hmac.h"
#include "token.h"

static const char b64url_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
        size_t need = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
        if (need + 1 > cap)
                return -ENOBUFS;
        size_t o = 0, i = 0;
        for (; i + 2 < len; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
                out[o++] = b64url_alphabet[v >> 18 & 63];
                out[o++] = b64url_alphabet[v >> 12 & 63];
                out[o++] = b64url_alphabet[v >> 6 & 63];
                out[o++] = b64url_alphabet[v & 63];
        }
        if (len - i == 1) {
                uint32_t v = (uint32_t)in[i] << 16;
                out[o++] = b64url_alphabet[v >> 18 & 63];
                out[o++] = b64url_alphabet[v >> 12 & 63];
        } else if (len - i == 2) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
                out[o++] = b64url_alphabet[v >> 18 & 63];
                out[o++] = b64url_alphabet[v >> 12 & 63];
                out[o++] = b64url_alphabet[v >> 6 & 63];
        }
        out[o] = '\0';
        return (int)o;
}

static int b64_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-' || c == '+')
                return 62;
        if (c == '_' || c == '/')
                return 63;
        return -1;
}

/* Accepts the URL-safe and the standard alphabet; trailing '=' padding is ignored. */
int b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
        while (len > 0 && in[len - 1] == '=')
                len--;
        if (len % 4 == 1)
                return -EINVAL;
        size_t o = 0;
        uint32_t acc = 0;
        unsigned bits = 0;
        for (size_t i = 0; i < len; i++) {
                int v = b64_value((unsigned char)in[i]);
                if (v < 0)
                        return -EINVAL;
                acc = acc << 6 | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (o >= cap)
                                return -ENOBUFS;
                        out[o++] = (uint8_t)(acc >> bits);
                }
        }
        /* Leftover bits must be zero, so each token has exactly one encoding. */
        if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
                return -EINVAL;
        return (int)o;
}

static int token_mac(const struct token_key *key, const char *data, size_t len, uint8_t mac[32])
{
        const struct iovec part = {(void *)data, len};

        return hmac_sha256(key->secret, key->secret_len, &part, 1, mac);
}

/* Append s as a JSON string (quotes included) to buf at *o; ASCII only: control bytes and
 * bytes >= 0x80 refuse (-EINVAL), '"' and '\\' are escaped. -ENOBUFS when it does not fit. */
static int json_str(char *buf, size_t cap, size_t *o, const char *s)
{
        size_t n = *o;

        if (n + 1 >= cap)
                return -ENOBUFS;
        buf[n++] = '"';
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                if (ch < 0x20 || ch >= 0x7f)
                        return -EINVAL;
                if (n + 3 >= cap)
                        return -ENOBUFS;
                if (ch == '"' || ch == '\\')
                        buf[n++] = '\\';
                buf[n++] = (char)ch;
        }
        buf[n++] = '"';
        *o = n;
        return 0;
}

/* Append text[0..len) to buf at *o, or -ENOBUFS. */
static int put(char *buf, size_t cap, size_t *o, const char *text, size_t len)
{
        if (*o + len >= cap)
                return -ENOBUFS;
        memcpy(buf + *o, text, len);
        *o += len;
        return 0;
}

#define PUT_LIT(buf, cap, o, lit) put(buf, cap, o, lit, sizeof(lit) - 1)

/*
 * The JOSE header and the claims as compact JSON with sorted keys — the bytes jansson's
 * JSON_COMPACT | JSON_SORT_KEYS gives — written directly: a token is signed for every
 * manifest, and building two JSON trees to print them cost more than the MAC.
 */
static int token_json(const struct token_key *key, const struct token_claims *c, char *hdr,
                      size_t hcap, size_t *ret_hl, char *cl, size_t ccap, size_t *ret_cll)
{
        char num[48];
        size_t h = 0, o = 0;
        int n, r;

        if ((r = PUT_LIT(hdr, hcap, &h, "{\"alg\":\"HS256\",\"kid\":")) < 0 ||
            (r = json_str(hdr, hcap, &h, key->kid)) < 0 ||
            (r = PUT_LIT(hdr, hcap, &h, ",\"typ\":\"JWT\"}")) < 0)
                return r == -ENOBUFS ? -EINVAL : r;
        /* Sorted: cdniip, cdniuc, cdniv, exp, nbf. */
        if ((r = PUT_LIT(cl, ccap, &o, "{")) < 0)
                return -EINVAL;
        if (c->ip[0] &&
            ((r = PUT_LIT(cl, ccap, &o, "\"cdniip\":")) < 0 ||
             (r = json_str(cl, ccap, &o, c->ip)) < 0 || (r = PUT_LIT(cl, ccap, &o, ",")) < 0))
                return -EINVAL;
        if (c->uc[0] &&
            ((r = PUT_LIT(cl, ccap, &o, "\"cdniuc\":")) < 0 ||
             (r = json_str(cl, ccap, &o, c->uc)) < 0 || (r = PUT_LIT(cl, ccap, &o, ",")) < 0))
                return -EINVAL;
        if ((r = PUT_LIT(cl, ccap, &o, "\"cdniv\":1")) < 0)
                return -EINVAL;
        if (c->exp) {
                n = snprintf(num, sizeof(num), ",\"exp\":%" PRId64, c->exp);
                if (n < 0 || (size_t)n >= sizeof(num) || put(cl, ccap, &o, num, (size_t)n) < 0)
                        return -EINVAL;
        }
        if (c->nbf) {
                n = snprintf(num, sizeof(num), ",\"nbf\":%" PRId64, c->nbf);
                if (n < 0 || (size_t)n >= sizeof(num) || put(cl, ccap, &o, num, (size_t)n) < 0)
                        return -EINVAL;
        }
        if (PUT_LIT(cl, ccap, &o, "}") < 0)
                return -EINVAL;
        *ret_hl = h;
        *ret_cll = o;
        return 0;
}

int token_sign(const struct token_key *key, const struct token_claims *c, char *out, size_t cap)
{
        /* Escaped, a claim byte takes up to 6 (\u00XX): room for the longest claims. */
        char header[160], claims[6 * (TOKEN_UC_MAX + TOKEN_IP_MAX) + 256];
        size_t hl = 0, cll = 0;
        int r;

        if (!key || !c || key->secret_len == 0)
                return -EINVAL;
        r = token_json(key, c, header, sizeof(header), &hl, claims, sizeof(claims), &cll);
        if (r < 0)
                return r;
        int a = b64url_encode((const uint8_t *)header, hl, out, cap);
        if (a < 0 || (size_t)a + 1 >= cap)
                return -ENOBUFS;
        out[a] = '.';
        int b = b64url_encode((const uint8_t *)claims, cll, out + a + 1, cap - (size_t)a - 1);
        if (b < 0)
                return b;
        size_t signed_len = (size_t)a + 1 + (size_t)b;
        if (signed_len + 1 >= cap)
                return -ENOBUFS;
        uint8_t mac[32];
        r = token_mac(key, out, signed_len, mac);
        if (r < 0)
                return r;
        out[signed_len] = '.';
        int s = b64url_encode(mac, sizeof(mac), out + signed_len + 1, cap - signed_len - 1);
        if (s < 0)
                return s;
        return (int)(signed_len + 1 + (size_t)s);
}

static const struct token_key *keyset_find(const struct token_keyset *ks, const char *kid)
{
        for (size_t i = 0; i < ks->n; i++)
                if (strcmp(ks->keys[i].kid, kid) == 0)
                        return &ks->keys[i];
        return NULL;
}

static json_t *decode_part(const char *p, size_t len)
{
        uint8_t buf[TOKEN_MAX];
        int n = b64url_decode(p, len, buf, sizeof(buf));
        if (n <= 0)
                return NULL;
        json_t *j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
        if (j && !json_is_object(j)) {
                json_decref(j);
                return NULL;
        }
        return j;
}

static int copy_claim_string(json_t *cl, const char *name, char *out, size_t cap)
{
        json_t *v = json_object_get(cl, name);
        if (!v) {
                out[0] = '\0';
                return 0;
        }
        if (!json_is_string(v) || json_string_length(v) >= cap)
                return -EINVAL;
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        return 0;
}

static int claim_time(json_t *cl, const char *name, int64_t *ret)
{
        json_t *v = json_object_get(cl, name);
        *ret = 0;
        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
                return -EINVAL;
        *ret = json_integer_value(v);
        return 0;
}

int token_verify(const struct token_keyset *ks, const char *jwt, size_t len, int64_t now,
                 int64_t skew_s, struct token_claims *ret)
{
        json_t *h = NULL, *cl = NULL;
        int r = -EINVAL;

        if (!ks || !jwt || len == 0 || len > TOKEN_MAX)
                return -EINVAL;
        const char *d1 = memchr(jwt, '.', len);
        if (!d1)
                return -EINVAL;
        const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt));
        if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)))
                return -EINVAL;

        h = decode_part(jwt, (size_t)(d1 - jwt));
        if (!h)
                goto out;
        const char *alg = json_string_value(json_object_get(h, "alg"));
        const char *kid = json_string_value(json_object_get(h, "kid"));
        if (!alg || strcmp(alg, "HS256") != 0 || !kid || json_object_get(h, "crit"))
                goto out;
        const struct token_key *key = keyset_find(ks, kid);
        /* A key retired (with the clock skew allowed) verifies nothing: as if unknown. */
        if (!key || (key->retire_at && now > key->retire_at + skew_s)) {
                r = -ENOKEY;
                goto out;
        }
        uint8_t mac[32], got[33];
        r = token_mac(key, jwt, (size_t)(d2 - jwt), mac);
        if (r < 0)
                goto out;
        int n = b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jwt), got, sizeof(got));
        if (n != 32 || CRYPTO_memcmp(mac, got, 32) != 0) {
                r = -EPERM;
                goto out;
        }

        r = -EINVAL;
        cl = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
        if (!cl)
                goto out;
        json_t *v = json_object_get(cl, "cdniv");
        if (v && (!json_is_integer(v) || json_integer_value(v) != 1))
                goto out;
        if (json_object_get(cl, "cdnicrit"))
                goto out;
        struct token_claims c = {0};
        if (claim_time(cl, "exp", &c.exp) < 0 || claim_time(cl, "nbf", &c.nbf) < 0 ||
            copy_claim_string(cl, "cdniuc", c.uc, sizeof(c.uc)) < 0 ||
            copy_claim_string(cl, "cdniip", c.ip, sizeof(c.ip)) < 0)
                goto out;
        /* The skew goes on our side of each comparison: a signed claim can still be as large
         * as INT64_MAX, and adding to it would overflow. */
        if (c.exp && now - skew_s > c.exp) {
                r = -ESTALE;
                goto out;
        }
        if (c.nbf && now + skew_s < c.nbf) {
                r = -EAGAIN;
                goto out;
        }
        if (ret)
                *ret = c;
        r = 0;
out:
        json_decref(h);
        json_decref(cl);
        return r;
}

/*
 * Compiling a regex costs far more than matching it, and a session's token is presented on
 * every segment request: keep a few compiled patterns per thread.
 */
#define RX_CACHE 8
struct rx_slot {
        char pattern[TOKEN_UC_MAX + 1];
        regex_t rx;
        bool used;
        unsigned age;
};
static __thread struct rx_slot rx_cache[RX_CACHE];
static __thread unsigned rx_clock;
static pthread_key_t rx_key;
static pthread_once_t rx_once = PTHREAD_ONCE_INIT;

/* Runs at thread exit: compiled patterns are heap memory that thread-local storage forgets. */
static void rx_cache_free(void *cache)
{
        struct rx_slot *slots = cache;

        for (unsigned i = 0; i < RX_CACHE; i++) {
                if (slots[i].used) {
                        regfree(&slots[i].rx);
                        slots[i].used = false;
                }
        }
}

static void rx_key_init(void)
{
        (void)pthread_key_create(&rx_key, rx_cache_free);
}

/*
 * Whether a cdniuc pattern is one regexec() runs in bounded time and regcomp() in bounded
 * memory: no back-references (\1-\9: glibc then backtracks, and four of them held a worker
 * for 40 s on a 60-byte URI), and repetition bounds whose product over the pattern stays
 * within RX_REPEAT_MAX (glibc copies a bounded repeat's subexpression per count:
 * (a{1,100}){1,100} took 150 MB and more). Bracket expressions are skipped ([{] is a brace).
 * A pattern refused here is an unusable claim, as one regcomp() refuses.
 */
#define RX_REPEAT_MAX 1024
static bool rx_bounded(const char *p)
{
        uint64_t product = 1;

        for (; *p; p++) {
                if (*p == '\\') {
                        if (p[1] >= '1' && p[1] <= '9')
                                return false;
                        if (p[1])
                                p++;
                } else if (*p == '[') {
                        const char *q = p + 1;
                        if (*q == '^')
                                q++;
                        if (*q == ']')
                                q++;
                        while (*q && *q != ']')
                                q++;
                        if (!*q)
                                return true; /* unbalanced: regcomp() refuses it */
                        p = q;
                } else if (*p == '{') {
                        unsigned long most = 0;
                        char *end;
                        unsigned long m = strtoul(p + 1, &end, 10);
                        most = m;
                        if (*end == ',') {
                                if (end[1] == '}')
                                        most = m + 1; /* {m,}: m copies and a star */
                                else
                                        most = strtoul(end + 1, &end, 10);
                        }
                        if (most > RX_REPEAT_MAX)
                                return false;
                        product *= most + 1;
                        if (product > RX_REPEAT_MAX)
                                return false;
                }
        }
        return true;
}

static const regex_t *rx_get(const char *pattern)
{
        struct rx_slot *victim = &rx_cache[0];
        for (unsigned i = 0; i < RX_CACHE; i++) {
                struct rx_slot *s = &rx_cache[i];
                if (s->used && strcmp(s->pattern, pattern) == 0) {
                        s->age = ++rx_clock;
                        return &s->rx;
                }
                if (!s->used || s->age < victim->age)
                        victim = s;
        }
        if (victim->used) {
                regfree(&victim->rx);
                victim->used = false;
        }
        (void)pthread_once(&rx_once, rx_key_init);
        if (!pthread_getspecific(rx_key))
                (void)pthread_setspecific(rx_key, rx_cache);
        if (!rx_bounded(pattern) || regcomp(&victim->rx, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return NULL;
        snprintf(victim->pattern, sizeof(victim->pattern), "%s", pattern);
        victim->used = true;
        victim->age = ++rx_clock;
        return &victim->rx;
}

/* An address as text into 16 bytes; an IPv4 one, or an IPv4-mapped IPv6 one, as its 4
 * bytes at the front. Returns 4, 16, or 0 when s is neither. */
static int addr_bytes(const char *s, unsigned char out[16])
{
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

        if (inet_pton(AF_INET, s, out) == 1)
                return 4;
        if (inet_pton(AF_INET6, s, out) != 1)
                return 0;
        if (memcmp(out, mapped, 12) != 0)
                return 16;
        memmove(out, out + 12, 4);
        return 4;
}

/*
 * Whether client (an address as text) is within claim: an address, or a prefix in CIDR form
 * (RFC 9246 section 2.1.9), IPv4 or IPv6. Addresses compare as bytes, so "2001:DB8::1" is
 * "2001:db8::1", and a client on an IPv6 socket that is an IPv4 one (::ffff:a.b.c.d) is that
 * IPv4 address. A claim that is neither form matches no client.
 */
static bool ip_within(const char *claim, const char *client)
{
        unsigned char want[16], got[16];
        char addr[TOKEN_IP_MAX + 1];
        const char *slash = strchr(claim, '/');
        size_t n = slash ? (size_t)(slash - claim) : strlen(claim);
        int wlen, glen;
        long bits;

        if (n >= sizeof(addr))
                return false;
        memcpy(addr, claim, n);
        addr[n] = '\0';
        wlen = addr_bytes(addr, want);
        glen = client ? addr_bytes(client, got) : 0;
        if (!wlen || wlen != glen)
                return false;
        bits = wlen * 8;
        if (slash) {
                char *end;
                if (slash[1] < '0' || slash[1] > '9')
                        return false;
                bits = strtol(slash + 1, &end, 10);
                /* a mapped claim counts its prefix over the whole IPv6 address */
                if (*end || bits < 0 || bits > 128 || end - slash > 4)
                        return false;
                if (wlen == 4 && strchr(addr, ':'))
                        bits -= 96;
                if (bits < 0 || bits > wlen * 8)
                        return false;
        }
        if (memcmp(want, got, (size_t)bits / 8) != 0)
                return false;
        if (bits % 8) {
                unsigned char m = (unsigned char)(0xff << (8 - bits % 8));
                return (want[bits / 8] & m) == (got[bits / 8] & m);
        }
        return true;
}

int token_scope_check(const struct token_claims *c, const char *uri, size_t uri_len,
                      const char *client_ip)
{
        char buf[2048];

        if (c->ip[0] && !ip_within(c->ip, client_ip))
                return -EPERM;
        if (!c->uc[0])
                return 0;
        if (strncmp(c->uc, "regex:", 6) != 0)
                return -EINVAL;
        if (uri_len >= sizeof(buf))
                return -EPERM;
        memcpy(buf, uri, uri_len);
        buf[uri_len] = '\0';
        const regex_t *rx = rx_get(c->uc + 6);
        if (!rx)
                return -EINVAL;
        return regexec(rx, buf, 0, NULL, 0) == 0 ? 0 : -EPERM;
}

struct key_entry {
        char *kid;
        char *secret;
        int64_t sign_from;
        char *retire_at;
};

/* As control's GET /v1/admin/keys answers them, so that answer is a keys file as it is:
 * sign_from is read and left (edges only verify); retire_at (Unix seconds, or null) ends what
 * the key verifies. */
static const struct cfg_field key_fields[] = {
        {.key = "kid", .type = CFG_STRING, .offset = offsetof(struct key_entry, kid), .required = true},
        {.key = "secret", .type = CFG_STRING, .offset = offsetof(struct key_entry, secret),
         .required = true},
        {.key = "sign_from", .type = CFG_INT, .offset = offsetof(struct key_entry, sign_from),
         .min = 0, .max = INT64_MAX},
        {.key = "retire_at", .type = CFG_STRING, .offset = offsetof(struct key_entry, retire_at)},
        {0},
};

/* retire_at's text: Unix seconds, 1 to 2^40. */
static int64_t retire_parse(const char *s)
{
        int64_t v = 0;

        if (!*s || *s == '0')
                return -1;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (1ll << 40) / 10)
                        return -1;
                v = v * 10 + (*s - '0');
        }
        return v;
}

struct keys_file {
        struct cfg_list keys;
};

static const struct cfg_field keys_file_fields[] = {
        {.key = "keys", .type = CFG_SECTION_LIST, .offset = offsetof(struct keys_file, keys),
         .min = 1, .max = TOKEN_MAX_KEYS, .required = true, .sub = key_fields,
         .elem_size = sizeof(struct key_entry)},
        {0},
};

static int secret_decode(const char *s, uint8_t *out, size_t cap)
{
        size_t len = strlen(s);
        if (len % 2 == 0 && len / 2 <= cap && hex_decode(s, len, out, len / 2) == 0)
                return (int)(len / 2);
        return b64url_decode(s, len, out, cap);
}

/* err gets "path:line:col: <what>" at node (reading path again for the position), or
 * "path: <what>" when it cannot be read. Returns -EINVAL. */
__attribute__((format(printf, 5, 6))) static int key_error(const char *path, const char *node,
                                                            char *err, size_t errlen,
                                                            const char *fmt, ...)
{
        struct cfg_error cerr;
        char what[256], *buf = NULL;
        size_t len = 0;
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (cfg_read_file(path, &buf, &len, &cerr) < 0) {
                snprintf(err, errlen, "%s: %s", path, what);
                return -EINVAL;
        }
        (void)cfg_error_at(&cerr, path, buf, len, node, "%s", what);
        cfg_file_free(buf, len);
        snprintf(err, errlen, "%s", cerr.msg);
        return -EINVAL;
}

int token_keyset_load(const char *path, size_t min_secret, struct token_keyset *ret, char *err,
                      size_t errlen)
{
        struct keys_file kf = {0};
        struct cfg_error cerr;
        int r = cfg_load_file(path, keys_file_fields, &kf, &cerr);
        if (r < 0) {
                snprintf(err, errlen, "%s", cerr.msg);
                return r;
        }
        struct token_keyset ks = {0};
        struct key_entry *e = kf.keys.items;
        for (size_t i = 0; i < kf.keys.n; i++) {
                struct token_key *k = &ks.keys[ks.n];
                char node[48];

                if (strlen(e[i].kid) > TOKEN_KID_MAX) {
                        snprintf(node, sizeof(node), "keys[%zu].kid", i);
                        r = key_error(path, node, err, errlen,
                                      "key %zu: kid longer than %d bytes", i + 1, TOKEN_KID_MAX);
                        goto out;
                }
                /* Tokens name their key by kid: an empty one names none, and of two alike only
                 * the first would ever be tried (the other's tokens all bad_signature). */
                for (size_t j = 0; j <= i; j++) {
                        if (e[i].kid[0] && (j == i || strcmp(e[j].kid, e[i].kid) != 0))
                                continue;
                        snprintf(node, sizeof(node), "keys[%zu].kid", i);
                        if (e[i].kid[0])
                                r = key_error(path, node, err, errlen,
                                              "key %zu: kid \"%s\" again (key %zu has it)",
                                              i + 1, e[i].kid, j + 1);
                        else
                                r = key_error(path, node, err, errlen, "key %zu: empty kid",
                                              i + 1);
                        goto out;
                }
                int n = secret_decode(e[i].secret, k->secret, sizeof(k->secret));
                if (n < 0 || (size_t)n < min_secret) {
                        snprintf(node, sizeof(node), "keys[%zu].secret", i);
                        if (n < 0)
                                r = key_error(path, node, err, errlen,
                                              "key %s: secret must be %zu to %d bytes, hex or "
                                              "base64: it is neither, or longer",
                                              e[i].kid, min_secret, TOKEN_SECRET_MAX);
                        else
                                r = key_error(path, node, err, errlen,
                                              "key %s: secret is %d bytes; it must be %zu to %d "
                                              "(hex or base64)%s",
                                              e[i].kid, n, min_secret, TOKEN_SECRET_MAX,
                                              min_secret >= TOKEN_SIGN_SECRET_MIN
                                                  ? ": signing HS256 wants a key as long as "
                                                    "the hash"
                                                  : "");
                        goto out;
                }
                k->secret_len = (size_t)n;
                snprintf(k->kid, sizeof(k->kid), "%s", e[i].kid);
                if (e[i].retire_at && (k->retire_at = retire_parse(e[i].retire_at)) < 0) {
                        snprintf(node, sizeof(node), "keys[%zu].retire_at", i);
                        r = key_error(path, node, err, errlen,
                                      "key %s: retire_at must be Unix seconds (or null)",
                                      e[i].kid);
                        goto out;
                }
                ks.n++;
        }
        *ret = ks;
        r = 0;
out:
        cfg_free(keys_file_fields, &kf);
        OPENSSL_cleanse(&ks, sizeof(ks));
        return r;
}

void token_keyset_free(struct token_keyset *ks)
{
        if (!ks)
                return;
        OPENSSL_cleanse(ks, sizeof(*ks));
        free(ks);
}
