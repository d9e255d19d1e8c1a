/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 record protection for the edge's own send path (see tls-seal.h): key schedule
 * pieces of RFC 8446 section 7 (HKDF-Expand-Label, the per-record nonce, KeyUpdate) and the
 * AEAD calls. OpenSSL does the cryptography, except that AES-GCM records are sealed by
 * common/aes-gcm.c where the processor has VAES and VPCLMULQDQ (about twice OpenSSL 3.0's
 * speed there; docs/tls.md). Opening always goes through OpenSSL.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "aes-gcm.h"
#include "tls-seal.h"

#define TAG_LEN 16
#define IV_LEN  12
#define KEY_MAX 32
#define REC_MAX (TLS_SEAL_PLAIN_MAX + 256u) /* ciphertext limit, RFC 8446 section 5.2 */

struct tls_seal {
        const EVP_CIPHER *cipher;
        const EVP_MD *md;
        EVP_CIPHER_CTX *ctx;
        size_t key_len, secret_len;
        uint64_t seq;
        bool own_gcm; /* sealed by aes_gcm_seal, with gcm below */
        struct aes_gcm_key gcm;
        unsigned char secret[TLS_SEAL_SECRET_MAX];
        unsigned char iv[IV_LEN];
};

static EVP_CIPHER *aes128, *aes256, *chacha;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch(void)
{
        aes128 = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
        aes256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
        chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
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

int tls_seal_new(unsigned suite, const unsigned char *secret, size_t secret_len, uint64_t seq,
                 struct tls_seal **ret)
{
        struct tls_seal *s;
        int r;

        (void)pthread_once(&fetch_once, fetch);
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        switch (suite) {
        case 0x1301:
                s->cipher = aes128, s->md = EVP_sha256(), s->key_len = 16;
                break;
        case 0x1302:
                s->cipher = aes256, s->md = EVP_sha384(), s->key_len = 32;
                break;
        case 0x1303:
                s->cipher = chacha, s->md = EVP_sha256(), s->key_len = 32;
                break;
        default:
                free(s);
                return -ENOTSUP;
        }
        if (!s->cipher || secret_len != (size_t)EVP_MD_get_size(s->md) ||
            secret_len > sizeof(s->secret)) {
                r = s->cipher ? -ENOTSUP : -EIO;
                free(s);
                return r;
        }
        s->own_gcm = suite != 0x1303 && aes_gcm_usable();
        s->ctx = EVP_CIPHER_CTX_new();
        if (!s->ctx) {
                free(s);
                return -ENOMEM;
        }
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

void tls_seal_free(struct tls_seal *s)
{
        if (!s)
                return;
        EVP_CIPHER_CTX_free(s->ctx);
        OPENSSL_cleanse(s, sizeof(*s));
        free(s);
}

static void nonce_make(const struct tls_seal *s, unsigned char nonce[IV_LEN])
{
        memcpy(nonce, s->iv, IV_LEN);
        for (int i = 0; i < 8; i++)
                nonce[IV_LEN - 1 - i] ^= (unsigned char)(s->seq >> (8 * i));
}

static void header_make(unsigned char h[5], size_t len)
{
        h[0] = TLS_CT_APP_DATA; /* the outer type of every protected record */
        h[1] = 0x03;
        h[2] = 0x03;
        h[3] = (unsigned char)(len >> 8);
        h[4] = (unsigned char)len;
}

int tls_seal_record(struct tls_seal *s, uint8_t type, const void *in, size_t len,
                    unsigned char *out)
{
        unsigned char nonce[IV_LEN];
        int n, m;

        if (len > TLS_SEAL_PLAIN_MAX || s->seq == UINT64_MAX)
                return -EIO;
        header_make(out, len + 1 + TAG_LEN);
        nonce_make(s, nonce);
        if (s->own_gcm) {
                aes_gcm_seal(&s->gcm, nonce, out, 5, in, len, &type, 1, out + 5, out + 5 + len + 1);
                s->seq++;
                return 0;
        }
        if (EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) != 1 ||
            EVP_EncryptUpdate(s->ctx, NULL, &n, out, 5) != 1 ||
            (len && EVP_EncryptUpdate(s->ctx, out + 5, &n, in, (int)len) != 1) ||
            EVP_EncryptUpdate(s->ctx, out + 5 + len, &m, &type, 1) != 1 ||
            EVP_EncryptFinal_ex(s->ctx, out + 5 + len + 1, &n) != 1 ||
            EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + 5 + len + 1) != 1)
                return -EIO;
        s->seq++;
        return 0;
}

int tls_seal_open(struct tls_seal *s, const unsigned char *rec, size_t len, unsigned char *out,
                  size_t *out_len, uint8_t *type)
{
        unsigned char nonce[IV_LEN], tag[TAG_LEN];
        size_t body, ct, i;
        int n;

        if (len < 5 || rec[0] != TLS_CT_APP_DATA || rec[1] != 0x03 || rec[2] != 0x03)
                return -EBADMSG;
        body = (size_t)rec[3] << 8 | rec[4];
        if (body != len - 5 || body < TAG_LEN + 1 || body > REC_MAX)
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
