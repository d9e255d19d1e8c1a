/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 and TLS 1.2 record protection for the edge's own send path (see tls-seal.h): key
 * schedule pieces of RFC 8446 section 7 (HKDF-Expand-Label, the per-record nonce, KeyUpdate),
 * TLS 1.2's key block (RFC 5246 section 6.3) and its AEAD records (RFC 5288 for AES-GCM, RFC
 * 7905 for ChaCha20-Poly1305), and the AEAD calls. OpenSSL does the cryptography, except
 * that AES-GCM records are sealed by common/aes-gcm.c where the processor has VAES and
 * VPCLMULQDQ (about twice OpenSSL 3.0's speed there; docs/tls.md). Opening always goes
 * through OpenSSL.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>

#include "aes-gcm.h"
#include "tls-seal.h"

#define TAG_LEN      16
#define IV_LEN       12
#define KEY_MAX      32
#define EXPLICIT_LEN 8  /* TLS 1.2 AES-GCM's explicit nonce, sent in each record */
#define AAD12_LEN    13 /* TLS 1.2: sequence number, type, version, length */
#define SALT_LEN     4  /* TLS 1.2 AES-GCM's implicit nonce part, from the key block */
#define REC_MAX (TLS_SEAL_PLAIN_MAX + 256u) /* ciphertext limit, RFC 8446 section 5.2 */

struct tls_seal {
        const EVP_CIPHER *cipher;
        const EVP_MD *md;
        EVP_CIPHER_CTX *ctx;
        size_t key_len, secret_len;
        uint64_t seq;
        bool tls12;
        bool explicit_nonce; /* TLS 1.2 AES-GCM: 8 bytes of nonce in each record */
        bool own_gcm; /* sealed by aes_gcm_seal, with gcm below */
        struct aes_gcm_key gcm;
        unsigned char secret[TLS_SEAL_SECRET_MAX];
        unsigned char iv[IV_LEN];
};

static EVP_CIPHER *aes128, *aes256, *chacha;
static EVP_KDF *tls1_prf;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch(void)
{
        aes128 = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
        aes256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
        chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
        tls1_prf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
}

/* HKDF-Expand-Label(secret, label, "", len) for len up to the hash length (one HMAC block). */
static int expand_label(const EVP_MD *md, const unsigned char *secret, size_t secret_len,
                        const char *label, unsigned char *out, size_t len)
{
        unsigned char info[2 + 1 + 6 + 32 + 1 + 1], t[EVP_MAX_MD_SIZE];
        size_t n = strlen(label), i = 0;
        unsigned tlen = 0;

        if (n > 32 || len > (size_t)EVP_MD_get_size(md))
                return -EINVAL;
        info[i++] = (unsigned char)(len >> 8);
        info[i++] = (unsigned char)len;
        info[i++] = (unsigned char)(6 + n);
        memcpy(info + i, "tls13 ", 6);
        i += 6;
        memcpy(info + i, label, n);
        i += n;
        info[i++] = 0;    /* empty context */
        info[i++] = 0x01; /* HKDF-Expand's block counter: T(1) */
        if (!HMAC(md, secret, (int)secret_len, info, i, t, &tlen) || tlen < len)
                return -EIO;
        memcpy(out, t, len);
        OPENSSL_cleanse(t, sizeof(t));
        return 0;
}

/* Key and IV from the current secret into the AEAD context. */
static int keys_load(struct tls_seal *s)
{
        unsigned char key[KEY_MAX];
        int r;

        r = expand_label(s->md, s->secret, s->secret_len, "key", key, s->key_len);
        if (r == 0)
                r = expand_label(s->md, s->secret, s->secret_len, "iv", s->iv, IV_LEN);
        if (r == 0 && EVP_CipherInit_ex(s->ctx, s->cipher, NULL, key, NULL, -1) != 1)
                r = -EIO;
        if (r == 0 && s->own_gcm && aes_gcm_key_init(&s->gcm, key, s->key_len) != 0)
                r = -EIO;
        OPENSSL_cleanse(key, sizeof(key));
        s->seq = 0;
        return r;
}

/* A state for 'cipher' with a key of key_len bytes; its AEAD context made, nothing loaded. */
static struct tls_seal *seal_alloc(const EVP_CIPHER *cipher, size_t key_len)
{
        struct tls_seal *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->cipher = cipher;
        s->key_len = key_len;
        s->own_gcm = cipher != chacha && aes_gcm_usable();
        s->ctx = EVP_CIPHER_CTX_new();
        if (!s->ctx) {
                free(s);
                return NULL;
        }
        return s;
}

int tls_seal_new(unsigned suite, const unsigned char *secret, size_t secret_len, uint64_t seq,
                 struct tls_seal **ret)
{
        const EVP_CIPHER *cipher;
        const EVP_MD *md = EVP_sha256();
        struct tls_seal *s;
        size_t key_len = 32;
        int r;

        (void)pthread_once(&fetch_once, fetch);
        switch (suite) {
        case 0x1301:
                cipher = aes128, key_len = 16;
                break;
        case 0x1302:
                cipher = aes256, md = EVP_sha384();
                break;
        case 0x1303:
                cipher = chacha;
                break;
        default:
                return -ENOTSUP;
        }
        if (!cipher)
                return -EIO;
        if (secret_len != (size_t)EVP_MD_get_size(md) || secret_len > TLS_SEAL_SECRET_MAX)
                return -ENOTSUP;
        s = seal_alloc(cipher, key_len);
        if (!s)
                return -ENOMEM;
        s->md = md;
        memcpy(s->secret, secret, secret_len);
        s->secret_len = secret_len;
        r = keys_load(s);
        if (r < 0) {
                tls_seal_free(s);
                return r;
        }
        s->seq = seq;
        *ret = s;
        return 0;
}

/*
 * TLS 1.2's key block (RFC 5246 section 6.3): PRF(master_secret, "key expansion",
 * server_random + client_random), with the suite's PRF hash. An AEAD suite has no MAC keys:
 * client key, server key, client IV, server IV.
 */
static int key_block(const EVP_MD *prf, const unsigned char *master, size_t master_len,
                     const unsigned char *client_random, const unsigned char *server_random,
                     unsigned char *out, size_t len)
{
        static const char label[] = "key expansion";
        unsigned char seed[sizeof(label) - 1 + 2 * TLS_SEAL_RANDOM_LEN];
        EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(tls1_prf);
        OSSL_PARAM params[4];
        int r = -EIO;

        if (!kctx)
                return -ENOMEM;
        memcpy(seed, label, sizeof(label) - 1);
        memcpy(seed + sizeof(label) - 1, server_random, TLS_SEAL_RANDOM_LEN);
        memcpy(seed + sizeof(label) - 1 + TLS_SEAL_RANDOM_LEN, client_random, TLS_SEAL_RANDOM_LEN);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                     (char *)EVP_MD_get0_name(prf), 0);
        params[1] =
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)master, master_len);
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
        params[3] = OSSL_PARAM_construct_end();
        if (EVP_KDF_derive(kctx, out, len, params) == 1)
                r = 0;
        EVP_KDF_CTX_free(kctx);
        return r;
}

int tls_seal_new12(int cipher_nid, const EVP_MD *prf, const unsigned char *master,
                   size_t master_len, const unsigned char *client_random,
                   const unsigned char *server_random, uint64_t seq, struct tls_seal **ret)
{
        unsigned char kb[2 * KEY_MAX + 2 * IV_LEN];
        const EVP_CIPHER *cipher;
        struct tls_seal *s;
        size_t key_len = 32, iv_len = IV_LEN;
        int r;

        (void)pthread_once(&fetch_once, fetch);
        switch (cipher_nid) {
        case NID_aes_128_gcm:
                cipher = aes128, key_len = 16, iv_len = SALT_LEN;
                break;
        case NID_aes_256_gcm:
                cipher = aes256, iv_len = SALT_LEN;
                break;
        case NID_chacha20_poly1305:
                cipher = chacha;
                break;
        default:
                return -ENOTSUP;
        }
        if (!cipher || !tls1_prf || !prf)
                return -EIO;
        s = seal_alloc(cipher, key_len);
        if (!s)
                return -ENOMEM;
        s->tls12 = true;
        s->explicit_nonce = cipher != chacha;
        /* client_write_key, server_write_key, client_write_IV, server_write_IV */
        r = key_block(prf, master, master_len, client_random, server_random, kb,
                      2 * key_len + 2 * iv_len);
        if (r == 0 && EVP_CipherInit_ex(s->ctx, cipher, NULL, kb + key_len, NULL, -1) != 1)
                r = -EIO;
        if (r == 0 && s->own_gcm && aes_gcm_key_init(&s->gcm, kb + key_len, key_len) != 0)
                r = -EIO;
        if (r == 0)
                memcpy(s->iv, kb + 2 * key_len + iv_len, iv_len); /* a salt of 4 for AES-GCM */
        OPENSSL_cleanse(kb, sizeof(kb));
        if (r < 0) {
                tls_seal_free(s);
                return r;
        }
        s->seq = seq;
        *ret = s;
        return 0;
}

size_t tls_seal_overhead(const struct tls_seal *s)
{
        if (!s->tls12)
                return TLS_SEAL_OVERHEAD;
        return 5 + (s->explicit_nonce ? EXPLICIT_LEN : 0) + TAG_LEN;
}

void tls_seal_free(struct tls_seal *s)
{
        if (!s)
                return;
        EVP_CIPHER_CTX_free(s->ctx);
        OPENSSL_cleanse(s, sizeof(*s));
        free(s);
}

/* The per-record nonce: the IV with the sequence number XORed into its last 8 bytes (TLS 1.3,
 * and TLS 1.2 ChaCha20-Poly1305), or TLS 1.2 AES-GCM's salt followed by the explicit part,
 * which is the sequence number here too. */
static void nonce_make(const struct tls_seal *s, unsigned char nonce[IV_LEN])
{
        if (s->explicit_nonce) {
                memcpy(nonce, s->iv, SALT_LEN);
                for (int i = 0; i < 8; i++)
                        nonce[IV_LEN - 1 - i] = (unsigned char)(s->seq >> (8 * i));
                return;
        }
        memcpy(nonce, s->iv, IV_LEN);
        for (int i = 0; i < 8; i++)
                nonce[IV_LEN - 1 - i] ^= (unsigned char)(s->seq >> (8 * i));
}

static void header_make(unsigned char h[5], uint8_t type, size_t len)
{
        h[0] = type;
        h[1] = 0x03;
        h[2] = 0x03;
        h[3] = (unsigned char)(len >> 8);
        h[4] = (unsigned char)len;
}

/* TLS 1.2's additional data: the sequence number and the plaintext's header. */
static void aad12_make(const struct tls_seal *s, uint8_t type, size_t len,
                       unsigned char aad[AAD12_LEN])
{
        for (int i = 0; i < 8; i++)
                aad[7 - i] = (unsigned char)(s->seq >> (8 * i));
        header_make(aad + 8, type, len);
}

/* One AEAD encryption by OpenSSL: aad, then in and the tail, the tag after the ciphertext. */
static int evp_seal(struct tls_seal *s, const unsigned char nonce[IV_LEN], const unsigned char *aad,
                    size_t aad_len, const void *in, size_t len, const uint8_t *tail,
                    size_t tail_len, unsigned char *out)
{
        int n;

        if (EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) != 1 ||
            EVP_EncryptUpdate(s->ctx, NULL, &n, aad, (int)aad_len) != 1 ||
            (len && EVP_EncryptUpdate(s->ctx, out, &n, in, (int)len) != 1) ||
            (tail_len && EVP_EncryptUpdate(s->ctx, out + len, &n, tail, (int)tail_len) != 1) ||
            EVP_EncryptFinal_ex(s->ctx, out + len + tail_len, &n) != 1 ||
            EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + len + tail_len) != 1)
                return -EIO;
        return 0;
}

int tls_seal_record(struct tls_seal *s, uint8_t type, const void *in, size_t len,
                    unsigned char *out)
{
        unsigned char nonce[IV_LEN], aad12[AAD12_LEN], *body = out + 5;
        const unsigned char *aad = out;
        size_t aad_len = 5, tail_len = 1;
        uint8_t *tail = &type;

        if (len > TLS_SEAL_PLAIN_MAX || s->seq == UINT64_MAX)
                return -EIO;
        nonce_make(s, nonce);
        if (s->tls12) {
                /* The record carries its own type; additional data and explicit nonce. */
                header_make(out, type, tls_seal_overhead(s) - 5 + len);
                aad12_make(s, type, len, aad12);
                aad = aad12, aad_len = AAD12_LEN, tail = NULL, tail_len = 0;
                if (s->explicit_nonce) {
                        memcpy(body, nonce + SALT_LEN, EXPLICIT_LEN);
                        body += EXPLICIT_LEN;
                }
        } else {
                header_make(out, TLS_CT_APP_DATA, len + 1 + TAG_LEN); /* the outer type */
        }
        if (s->own_gcm)
                aes_gcm_seal(&s->gcm, nonce, aad, aad_len, in, len, tail, tail_len, body,
                             body + len + tail_len);
        else if (evp_seal(s, nonce, aad, aad_len, in, len, tail, tail_len, body) < 0)
                return -EIO;
        s->seq++;
        return 0;
}

/* Open a TLS 1.2 record: its type is its header's, no padding. */
static int open12(struct tls_seal *s, const unsigned char *rec, size_t body, unsigned char *out,
                  size_t *out_len, uint8_t *type)
{
        unsigned char nonce[IV_LEN], aad[AAD12_LEN], tag[TAG_LEN];
        size_t ex = s->explicit_nonce ? EXPLICIT_LEN : 0, ct;
        int n;

        if (body < ex + TAG_LEN || body - ex - TAG_LEN > TLS_SEAL_PLAIN_MAX)
                return -EBADMSG;
        ct = body - ex - TAG_LEN;
        memcpy(tag, rec + 5 + ex + ct, TAG_LEN);
        nonce_make(s, nonce);
        memcpy(nonce + SALT_LEN, rec + 5, ex); /* the sender's explicit part */
        aad12_make(s, rec[0], ct, aad);
        if (EVP_DecryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) != 1 ||
            EVP_DecryptUpdate(s->ctx, NULL, &n, aad, AAD12_LEN) != 1 ||
            EVP_DecryptUpdate(s->ctx, out, &n, rec + 5 + ex, (int)ct) != 1 ||
            EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) != 1)
                return -EIO;
        if (EVP_DecryptFinal_ex(s->ctx, out + ct, &n) != 1)
                return -EBADMSG;
        *type = rec[0];
        *out_len = ct;
        s->seq++;
        return 0;
}

int tls_seal_open(struct tls_seal *s, const unsigned char *rec, size_t len, unsigned char *out,
                  size_t *out_len, uint8_t *type)
{
        unsigned char nonce[IV_LEN], tag[TAG_LEN];
        size_t body, ct, i;
        int n;

        if (len < 5 || rec[1] != 0x03 || rec[2] != 0x03)
                return -EBADMSG;
        body = (size_t)rec[3] << 8 | rec[4];
        if (body != len - 5)
                return -EBADMSG;
        if (s->tls12)
                return rec[0] == TLS_CT_APP_DATA || rec[0] == TLS_CT_ALERT
                           ? open12(s, rec, body, out, out_len, type)
                           : -EBADMSG;
        if (rec[0] != TLS_CT_APP_DATA || body < TAG_LEN + 1 || body > REC_MAX)
                return -EBADMSG;
        ct = body - TAG_LEN;
        memcpy(tag, rec + 5 + ct, TAG_LEN);
        nonce_make(s, nonce);
        if (EVP_DecryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) != 1 ||
            EVP_DecryptUpdate(s->ctx, NULL, &n, rec, 5) != 1 ||
            EVP_DecryptUpdate(s->ctx, out, &n, rec + 5, (int)ct) != 1 ||
            EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) != 1)
                return -EIO;
        if (EVP_DecryptFinal_ex(s->ctx, out + ct, &n) != 1)
                return -EBADMSG;
        for (i = ct; i > 0 && out[i - 1] == 0; i--)
                ; /* zero padding after the inner content type */
        if (i == 0)
                return -EBADMSG;
        *type = out[i - 1];
        *out_len = i - 1;
        s->seq++;
        return 0;
}

int tls_seal_update(struct tls_seal *s)
{
        unsigned char next[TLS_SEAL_SECRET_MAX];
        int r;

        if (s->tls12)
                return -ENOTSUP; /* no KeyUpdate before TLS 1.3 */
        r = expand_label(s->md, s->secret, s->secret_len, "traffic upd", next, s->secret_len);
        if (r == 0) {
                memcpy(s->secret, next, s->secret_len);
                r = keys_load(s);
        }
        OPENSSL_cleanse(next, sizeof(next));
        return r;
}

uint64_t tls_seal_seq(const struct tls_seal *s)
{
        return s->seq;
}
