/* SPDX-License-Identifier: MIT */
/*
 * Speed of sealing a full TLS 1.3 record (16,384 bytes of data and the inner content type,
 * 5 bytes of additional data) with common/aes-gcm.c and with OpenSSL's AES-GCM, taking turns:
 * `meson test -C build --benchmark common/aes-gcm`, or run bench-aes-gcm [records] [rounds].
 * Prints GB/s of each per round and the median of the ratios. Exit 77 where the processor
 * cannot run the edge's code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/evp.h>

#include "aes-gcm.h"

#define PLAIN 16384

static double now(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
        static uint8_t in[PLAIN], out[PLAIN + 1 + AES_GCM_TAG_LEN];
        uint8_t key[16] = {1}, nonce[12] = {2}, aad[5] = {23, 3, 3}, tag[16], type = 23;
        long records = argc > 1 ? strtol(argv[1], NULL, 10) : 40000;
        long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 5;
        int n;
        double ratios[64], own, ossl, t;
        struct aes_gcm_key k;
        EVP_CIPHER_CTX *c;

        if (!aes_gcm_usable()) {
                puts("SKIP: no VAES/VPCLMULQDQ/AVX-512 here (or SLUICE_AES_GCM=openssl)");
                return 77;
        }
        if (records <= 0 || rounds <= 0 || rounds > 64) {
                fputs("usage: bench-aes-gcm [records > 0] [rounds 1..64]\n", stderr);
                return 2;
        }
        c = EVP_CIPHER_CTX_new();
        if (!c || aes_gcm_key_init(&k, key, sizeof(key)) != 0 ||
            EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, NULL) != 1)
                return 1;
        for (long r = 0; r < rounds; r++) {
                t = now();
                for (long i = 0; i < records; i++) {
                        nonce[11] = (uint8_t)i;
                        aes_gcm_seal(&k, nonce, aad, 5, in, PLAIN, &type, 1, out, tag);
                }
                own = now() - t;
                t = now();
                for (long i = 0; i < records; i++) {
                        nonce[11] = (uint8_t)i;
                        if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
                            EVP_EncryptUpdate(c, NULL, &n, aad, 5) != 1 ||
                            EVP_EncryptUpdate(c, out, &n, in, PLAIN) != 1 ||
                            EVP_EncryptUpdate(c, out + PLAIN, &n, &type, 1) != 1 ||
                            EVP_EncryptFinal_ex(c, out + PLAIN + 1, &n) != 1 ||
                            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
                                return 1;
                }
                ossl = now() - t;
                ratios[r] = ossl / own;
                printf("round %ld: edge %.2f GB/s, OpenSSL %.2f GB/s, x%.2f\n", r + 1,
                       (double)records * (PLAIN + 1) / own / 1e9,
                       (double)records * (PLAIN + 1) / ossl / 1e9, ratios[r]);
        }
        qsort(ratios, (size_t)rounds, sizeof(ratios[0]), cmp);
        printf("AES-128-GCM, 16 KiB records: the edge's sealing x%.2f OpenSSL's (median of %ld)\n",
               ratios[rounds / 2], rounds);
        EVP_CIPHER_CTX_free(c);
        aes_gcm_key_wipe(&k);
        return 0;
}
