/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "hmac.h"

#include "sessid.h"

#define PREFIX     "S1."
#define PREFIX_LEN 3
#define FIELDS     11
#define MAC_B64    43  /* 32 bytes, unpadded */
#define CLAIMS_MAX 768 /* decoded; the fields' limits and separators fit well within */

/* Separates session ids from every other MAC made with the shared keys. */
static const char derive_label[] = "sluice-control session id v1";

/* Keys derived lately, by secret: a derivation is an HMAC, as dear as the MAC itself. Each
 * keeps an HMAC context keyed with it, copied for every MAC: setting up a context (the digest
 * fetched by name, the key's pads hashed) cost as much as the MAC. */
#define DERIVED 8
static struct {
        size_t len; /* 0: empty */
        uint8_t secret[TOKEN_SECRET_MAX];
        uint8_t k[32];
        EVP_MAC_CTX *ctx; /* keyed with k, or NULL: made on first use */
} derived[DERIVED];
static unsigned derived_next;
static EVP_MAC *mac_impl; /* fetched once, kept for the life of the process */

/* The derived key for key into k; *slot is its entry, or DERIVED when it is not kept. */
static int derive(const struct token_key *key, uint8_t k[32], unsigned *slot)
{
        struct iovec part = {(void *)derive_label, sizeof(derive_label) - 1};
        unsigned i;
        int r;

        *slot = DERIVED;
        for (i = 0; i < DERIVED; i++)
                if (derived[i].len == key->secret_len &&
                    !memcmp(derived[i].secret, key->secret, key->secret_len)) {
                        memcpy(k, derived[i].k, 32);
                        *slot = i;
                        return 0;
                }
        r = hmac_sha256(key->secret, key->secret_len, &part, 1, k);
        if (r < 0 || key->secret_len == 0 || key->secret_len > TOKEN_SECRET_MAX)
                return r;
        i = derived_next++ % DERIVED;
        EVP_MAC_CTX_free(derived[i].ctx);
        OPENSSL_cleanse(&derived[i], sizeof(derived[i]));
        derived[i].len = key->secret_len;
        memcpy(derived[i].secret, key->secret, key->secret_len);
        memcpy(derived[i].k, k, 32);
        *slot = i;
        return 0;
}

static EVP_MAC_CTX *keyed_ctx(const uint8_t k[32])
{
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };
        EVP_MAC_CTX *ctx;

        if (!mac_impl)
                mac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
        ctx = mac_impl ? EVP_MAC_CTX_new(mac_impl) : NULL;
        if (ctx && EVP_MAC_init(ctx, k, 32, params) != 1) {
                EVP_MAC_CTX_free(ctx);
                ctx = NULL;
        }
        return ctx;
}

/* The MAC of data by a copy of the keyed context; -EIO leaves the caller to the slow way. */
static int mac_copy(const EVP_MAC_CTX *keyed, const char *data, size_t len, uint8_t mac[32])
{
        EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(keyed);
        size_t n = 0;
        bool ok = ctx && (len == 0 || EVP_MAC_update(ctx, (const unsigned char *)data, len) == 1) &&
                  EVP_MAC_final(ctx, mac, &n, 32) == 1 && n == 32;

        EVP_MAC_CTX_free(ctx);
        return ok ? 0 : -EIO;
}

static int mac_of(const struct token_key *key, const char *data, size_t len, uint8_t mac[32])
{
        struct iovec part = {(void *)data, len};
        uint8_t k[32];
        unsigned slot;
        int r = derive(key, k, &slot);

        if (r == 0 && slot < DERIVED) {
                if (!derived[slot].ctx)
                        derived[slot].ctx = keyed_ctx(k);
                if (derived[slot].ctx && mac_copy(derived[slot].ctx, data, len, mac) == 0) {
                        OPENSSL_cleanse(k, sizeof(k));
                        return 0;
                }
        }
        if (r == 0)
                r = hmac_sha256(k, sizeof(k), &part, 1, mac);
        OPENSSL_cleanse(k, sizeof(k));
        return r;
}

static bool id_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
}

static bool field_ok(const char *s, size_t n, size_t max, bool id)
{
        if (n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (id ? !id_char((char)c) : (c < 0x20 || c >= 0x7f))
                        return false;
        }
        return true;
}

static bool int_parse(const char *s, size_t n, int64_t min, int64_t *ret)
{
        bool neg = n > 0 && s[0] == '-';
        uint64_t v = 0;
        size_t i = neg ? 1 : 0;

        if (n == i || n - i > 19 || (s[i] == '0' && n - i > 1))
                return false;
        for (; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (v > INT64_MAX)
                return false;
        *ret = neg ? -(int64_t)v : (int64_t)v;
        return *ret >= min && !(neg && v == 0);
}

static bool copy_field(char *dst, size_t cap, const char *s, size_t n, bool id)
{
        if (!field_ok(s, n, cap - 1, id))
                return false;
        memcpy(dst, s, n);
        dst[n] = '\0';
        return true;
}

int sessid_claims_parse(const char *buf, size_t len, struct sessid_claims *ret)
{
        struct sessid_claims c;
        const char *f[FIELDS];
        size_t fl[FIELDS], n = 0;
        const char *p = buf, *end = buf + len;

        memset(&c, 0, sizeof(c));
        while (n < FIELDS) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *e = nl ? nl : end;
                f[n] = p;
                fl[n++] = (size_t)(e - p);
                if (!nl)
                        break;
                p = nl + 1;
        }
        /* Exactly FIELDS fields: the last one ends the buffer. */
        if (n != FIELDS || f[FIELDS - 1] + fl[FIELDS - 1] != end)
                return -EINVAL;
        if (!copy_field(c.kid, sizeof(c.kid), f[0], fl[0], false) || fl[0] == 0 ||
            !copy_field(c.nonce, sizeof(c.nonce), f[1], fl[1], true) || fl[1] != SESSID_NONCE_HEX ||
            !copy_field(c.title, sizeof(c.title), f[2], fl[2], true) || fl[2] == 0 ||
            !copy_field(c.episode, sizeof(c.episode), f[3], fl[3], true) ||
            !copy_field(c.asset, sizeof(c.asset), f[4], fl[4], true) || fl[4] == 0 ||
            !int_parse(f[5], fl[5], INT64_MIN, &c.asset_version) ||
            !copy_field(c.country, sizeof(c.country), f[6], fl[6], false) ||
            !copy_field(c.region, sizeof(c.region), f[7], fl[7], false) ||
            !int_parse(f[8], fl[8], 0, &c.created) || !int_parse(f[9], fl[9], 0, &c.expires) ||
            !int_parse(f[10], fl[10], 0, &c.profile))
                return -EINVAL;
        for (size_t i = 0; i < SESSID_NONCE_HEX; i++)
                if (!((c.nonce[i] >= '0' && c.nonce[i] <= '9') ||
                      (c.nonce[i] >= 'a' && c.nonce[i] <= 'f')))
                        return -EINVAL;
        if (fl[6] != 0 && (fl[6] != 2 || c.country[0] < 'A' || c.country[0] > 'Z' ||
                           c.country[1] < 'A' || c.country[1] > 'Z'))
                return -EINVAL;
        /* The title and asset ids start with a letter or digit (sluice_id). */
        if (!id_char(c.title[0]) || c.title[0] == '.' || c.title[0] == '_' || c.title[0] == '-' ||
            c.asset[0] == '.' || c.asset[0] == '_' || c.asset[0] == '-')
                return -EINVAL;
        *ret = c;
        return 0;
}

int sessid_sign(const struct token_key *key, const struct sessid_claims *c, char *out, size_t cap)
{
        char claims[CLAIMS_MAX + 1];
        struct sessid_claims back;
        uint8_t mac[32];
        int n, b, m;

        n = snprintf(claims, sizeof(claims),
                     "%s\n%s\n%s\n%s\n%s\n%" PRId64 "\n%s\n%s\n%" PRId64 "\n%" PRId64 "\n%" PRId64,
                     key->kid, c->nonce, c->title, c->episode, c->asset, c->asset_version,
                     c->country, c->region, c->created, c->expires, c->profile);
        if (n < 0 || (size_t)n >= sizeof(claims))
                return -EINVAL;
        /* What the verifier would refuse is never signed. */
        if (sessid_claims_parse(claims, (size_t)n, &back) < 0)
                return -EINVAL;
        if (cap < PREFIX_LEN + 1)
                return -ENOBUFS;
        memcpy(out, PREFIX, PREFIX_LEN);
        b = b64url_encode((const uint8_t *)claims, (size_t)n, out + PREFIX_LEN, cap - PREFIX_LEN);
        if (b < 0)
                return -ENOBUFS;
        if (mac_of(key, out, PREFIX_LEN + (size_t)b, mac) < 0)
                return -EIO;
        if ((size_t)(PREFIX_LEN + b + 1) >= cap)
                return -ENOBUFS;
        out[PREFIX_LEN + b] = '.';
        m = b64url_encode(mac, sizeof(mac), out + PREFIX_LEN + b + 1,
                          cap - (size_t)(PREFIX_LEN + b + 1));
        if (m < 0)
                return -ENOBUFS;
        n = PREFIX_LEN + b + 1 + m;
        return n > SESSID_MAX ? -EINVAL : n;
}

static bool b64_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
}

int sessid_verify(const struct token_keyset *ks, const char *id, size_t len,
                  struct sessid_claims *ret)
{
        char claims[CLAIMS_MAX + 1];
        struct sessid_claims c;
        uint8_t mac[32], want[32];
        const struct token_key *key = NULL;
        size_t signed_len;
        int n;

        if (len > SESSID_MAX || len < PREFIX_LEN + 2 + MAC_B64 || memcmp(id, PREFIX, PREFIX_LEN))
                return -EINVAL;
        signed_len = len - MAC_B64 - 1;
        if (id[signed_len] != '.')
                return -EINVAL;
        for (size_t i = PREFIX_LEN; i < len; i++)
                if (i != signed_len && !b64_char(id[i]))
                        return -EINVAL;
        n = b64url_decode(id + PREFIX_LEN, signed_len - PREFIX_LEN, (uint8_t *)claims, CLAIMS_MAX);
        if (n <= 0 || sessid_claims_parse(claims, (size_t)n, &c) < 0)
                return -EINVAL;
        if (b64url_decode(id + signed_len + 1, MAC_B64, mac, sizeof(mac)) != 32)
                return -EINVAL;
        for (size_t i = 0; i < ks->n && !key; i++)
                if (!strcmp(ks->keys[i].kid, c.kid))
                        key = &ks->keys[i];
        if (!key)
                return -ENOKEY;
        if (mac_of(key, id, signed_len, want) < 0 || CRYPTO_memcmp(mac, want, sizeof(mac)))
                return -EPERM;
        *ret = c;
        return 0;
}

struct seen_slot {
        size_t len; /* 0: empty */
        char id[SESSID_MAX];
        struct sessid_claims c;
};

struct sessid_seen {
        size_t n;               /* power of two */
        struct token_keyset ks; /* what the entries were verified under */
        struct seen_slot *slots;
};

int sessid_seen_new(size_t slots, struct sessid_seen **ret)
{
        struct sessid_seen *s = calloc(1, sizeof(*s));
        size_t n = 1;

        while (n < slots)
                n <<= 1;
        if (s)
                s->slots = calloc(n, sizeof(*s->slots));
        if (!s || !s->slots) {
                free(s);
                return -ENOMEM;
        }
        s->n = n;
        *ret = s;
        return 0;
}

void sessid_seen_free(struct sessid_seen *s)
{
        if (!s)
                return;
        OPENSSL_cleanse(&s->ks, sizeof(s->ks));
        free(s->slots);
        free(s);
}

/* The slot for id, the table emptied first when the key set changed. */
static struct seen_slot *seen_slot(struct sessid_seen *s, const struct token_keyset *ks,
                                   const char *id, size_t len)
{
        if (memcmp(&s->ks, ks, sizeof(*ks))) {
                for (size_t i = 0; i < s->n; i++)
                        s->slots[i].len = 0;
                s->ks = *ks;
        }
        /* FNV-1a over the id's last bytes, its MAC's: they spread ids as well as the whole id
         * would (a forged id may collide on purpose, which only evicts an entry), and a
         * signed id is 700 bytes or more. */
        uint32_t h = 2166136261u;
        for (size_t i = len > 32 ? len - 32 : 0; i < len; i++)
                h = (h ^ (unsigned char)id[i]) * 16777619u;
        return &s->slots[h & (s->n - 1)];
}

int sessid_verify_seen(struct sessid_seen *seen, const struct token_keyset *ks, const char *id,
                       size_t len, struct sessid_claims *ret)
{
        struct seen_slot *e;
        int r;

        if (len == 0 || len > SESSID_MAX)
                return -EINVAL;
        e = seen_slot(seen, ks, id, len);
        if (e->len == len && !CRYPTO_memcmp(e->id, id, len)) {
                *ret = e->c;
                return 0;
        }
        r = sessid_verify(ks, id, len, ret);
        if (r == 0) {
                e->len = len;
                memcpy(e->id, id, len);
                e->c = *ret;
        }
        return r;
}

void sessid_seen_put(struct sessid_seen *seen, const struct token_keyset *ks, const char *id,
                     size_t len, const struct sessid_claims *c)
{
        struct seen_slot *e;

        if (len == 0 || len > SESSID_MAX)
                return;
        e = seen_slot(seen, ks, id, len);
        e->len = len;
        memcpy(e->id, id, len);
        e->c = *c;
}
