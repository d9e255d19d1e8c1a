/* SPDX-License-Identifier: MIT */
/* Session ticket keys (see tls-tickets.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "tls-tickets.h"

struct tls_tickets *tls_tickets_new(uint64_t period_ms)
{
        struct tls_tickets *k = calloc(1, sizeof(*k));

        if (!k)
                return NULL;
        atomic_init(&k->refs, 1);
        (void)pthread_mutex_init(&k->mu, NULL);
        k->period_ms = period_ms;
        return k;
}

void tls_tickets_ref(struct tls_tickets *k)
{
        atomic_fetch_add(&k->refs, 1);
}

void tls_tickets_unref(struct tls_tickets *k)
{
        if (!k || atomic_fetch_sub(&k->refs, 1) != 1)
                return;
        OPENSSL_cleanse(k->keys, sizeof(k->keys));
        (void)pthread_mutex_destroy(&k->mu);
        free(k);
}

/* Under k->mu: make keys[0] the key of epoch now, generating it on the first use in a new
 * period, and wipe every key too old to open a ticket (before its previous period): kept, it
 * would let whoever reads the process decrypt sessions older than the window. Returns 0 or
 * -EIO when the RNG fails. */
static int rotate(struct tls_tickets *k, uint64_t epoch)
{
        struct tls_ticket_key fresh;

        if (k->keys[0].epoch >= epoch)
                return 0;
        fresh.epoch = epoch;
        if (RAND_bytes(fresh.name, sizeof(fresh.name)) != 1 ||
            RAND_bytes(fresh.aes, sizeof(fresh.aes)) != 1 ||
            RAND_bytes(fresh.hmac, sizeof(fresh.hmac)) != 1) {
                /* What the RNG made before it failed is a key's part all the same. */
                OPENSSL_cleanse(&fresh, sizeof(fresh));
                return -EIO;
        }
        memmove(&k->keys[1], &k->keys[0], sizeof(k->keys[0]) * (TLS_TICKET_KEYS - 1));
        k->keys[0] = fresh;
        OPENSSL_cleanse(&fresh, sizeof(fresh));
        for (size_t i = 1; i < TLS_TICKET_KEYS; i++)
                if (k->keys[i].epoch + 1 < epoch)
                        OPENSSL_cleanse(&k->keys[i], sizeof(k->keys[i]));
        return 0;
}

static int hmac_init(EVP_MAC_CTX *hctx, const unsigned char *key)
{
        OSSL_PARAM params[3];

        params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, 32);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
        params[2] = OSSL_PARAM_construct_end();
        return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -EIO;
}

int tls_tickets_cb(struct tls_tickets *k, uint64_t now_ms, unsigned char name[16],
                   unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
        uint64_t epoch = now_ms / k->period_ms + 1; /* +1: epoch 0 marks an empty slot */
        struct tls_ticket_key key;
        int ret = 0;

        (void)pthread_mutex_lock(&k->mu);
        if (rotate(k, epoch) < 0) {
                (void)pthread_mutex_unlock(&k->mu);
                return -1;
        }
        if (enc) {
                key = k->keys[0];
                ret = 1;
        } else {
                for (size_t i = 0; i < TLS_TICKET_KEYS; i++) {
                        if (k->keys[i].epoch && k->keys[i].epoch + 1 >= epoch &&
                            !memcmp(k->keys[i].name, name, 16)) {
                                key = k->keys[i];
                                ret = k->keys[i].epoch == epoch ? 1 : 2;
                                break;
                        }
                }
        }
        (void)pthread_mutex_unlock(&k->mu);
        if (ret == 0)
                return 0;

        if (enc) {
                memcpy(name, key.name, 16);
                if (RAND_bytes(iv, 16) != 1 ||
                    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key.aes, iv) != 1)
                        ret = -1;
        } else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key.aes, iv) != 1) {
                ret = -1;
        }
        if (ret > 0 && hmac_init(hctx, key.hmac) < 0)
                ret = -1;
        OPENSSL_cleanse(&key, sizeof(key));
        return ret;
}
