/* SPDX-License-Identifier: MIT */
/* The check an OCSP response passes before the edge staples it (see tls-ocsp.h). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "tls-ocsp.h"

/* Whether cand issued leaf: names and extensions agree and leaf's signature verifies under
 * cand's key (so a certificate carried by the response itself can be trusted as the issuer). */
static bool issued_by(X509 *cand, X509 *leaf)
{
        EVP_PKEY *k;

        if (X509_check_issued(cand, leaf) != X509_V_OK)
                return false;
        k = X509_get0_pubkey(cand);
        return k && X509_verify(leaf, k) == 1;
}

static int asn1_unix(const ASN1_GENERALIZEDTIME *a, int64_t *ret)
{
        struct tm tm;

        if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
                return -EINVAL;
        *ret = (int64_t)timegm(&tm);
        return 0;
}

/*
 * The response's entry for leaf. Its certificate ID hashes the issuer's name and key with the
 * digest the ID names: SHA-1 most often, SHA-256 or another from some responders. Each entry's
 * is rebuilt from leaf and issuer with that digest and compared. NULL when none matches
 * (*oom set when that is for want of memory).
 */
static OCSP_SINGLERESP *find_single(OCSP_BASICRESP *bs, X509 *leaf, X509 *issuer, bool *oom)
{
        *oom = false;
        for (int i = 0; i < OCSP_resp_count(bs); i++) {
                OCSP_SINGLERESP *one = OCSP_resp_get0(bs, i);
                const OCSP_CERTID *theirs = OCSP_SINGLERESP_get0_id(one);
                ASN1_OBJECT *md_oid = NULL;
                const EVP_MD *md;
                OCSP_CERTID *ours;
                bool same;

                if (!theirs ||
                    OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, (OCSP_CERTID *)theirs) != 1 ||
                    !(md = EVP_get_digestbyobj(md_oid)))
                        continue; /* a digest we do not know names no certificate of ours */
                ours = OCSP_cert_to_id(md, leaf, issuer);
                if (!ours) {
                        *oom = true;
                        return NULL;
                }
                same = OCSP_id_cmp(ours, theirs) == 0;
                OCSP_CERTID_free(ours);
                if (same)
                        return one;
        }
        return NULL;
}

#define OCSP_CHECK_LEEWAY_S 300
int ocsp_check(const unsigned char *der, size_t len, X509 *leaf, STACK_OF(X509) * chain,
               int64_t *next, char *why, size_t whylen)
{
        const unsigned char *p = der;
        OCSP_RESPONSE *resp = NULL;
        OCSP_BASICRESP *bs = NULL;
        OCSP_SINGLERESP *one;
        X509_STORE *store = NULL;
        X509 *issuer = NULL;
        ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
        int status, reason, rs, r = -EINVAL;
        bool oom;

        *next = 0;
        if (len == 0 || len > LONG_MAX || !(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) ||
            p != der + len) {
                snprintf(why, whylen, "not a DER OCSP response");
                goto out;
        }
        rs = OCSP_response_status(resp);
        if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
                snprintf(why, whylen, "response status %s, not successful",
                         OCSP_response_status_str(rs));
                goto out;
        }
        bs = OCSP_response_get1_basic(resp);
        if (!bs) {
                snprintf(why, whylen, "not a basic OCSP response");
                goto out;
        }
        for (int i = 0; chain && i < sk_X509_num(chain) && !issuer; i++)
                if (issued_by(sk_X509_value(chain, i), leaf))
                        issuer = sk_X509_value(chain, i);
        for (int i = 0; i < sk_X509_num(OCSP_resp_get0_certs(bs)) && !issuer; i++)
                if (issued_by(sk_X509_value(OCSP_resp_get0_certs(bs), i), leaf))
                        issuer = sk_X509_value(OCSP_resp_get0_certs(bs), i);
        if (!issuer) {
                snprintf(why, whylen,
                         "the certificate's issuer is in neither the chain nor the response");
                goto out;
        }
        store = X509_STORE_new();
        if (!store || X509_STORE_add_cert(store, issuer) != 1 ||
            X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
                snprintf(why, whylen, "out of memory");
                goto out;
        }
        if (OCSP_basic_verify(bs, chain, store, 0) != 1) {
                snprintf(why, whylen, "signature does not verify against the certificate's issuer");
                goto out;
        }
        one = find_single(bs, leaf, issuer, &oom);
        if (!one) {
                snprintf(why, whylen, "%s",
                         oom ? "out of memory"
                             : "no status for this certificate (another one's response?)");
                goto out;
        }
        status = OCSP_single_get0_status(one, &reason, NULL, &thisupd, &nextupd);
        if (status != V_OCSP_CERTSTATUS_GOOD) {
                snprintf(why, whylen, "certificate status %s", OCSP_cert_status_str(status));
                goto out;
        }
        if (OCSP_check_validity(thisupd, nextupd, OCSP_CHECK_LEEWAY_S, -1) != 1) {
                snprintf(why, whylen, "outside its validity (thisUpdate/nextUpdate)");
                goto out;
        }
        if (nextupd) {
                int64_t now = (int64_t)time(NULL);
                if (asn1_unix(nextupd, next) < 0 || *next <= now) {
                        snprintf(why, whylen, "expired (nextUpdate passed)");
                        goto out;
                }
        }
        r = 0;
out:
        X509_STORE_free(store);
        OCSP_BASICRESP_free(bs);
        OCSP_RESPONSE_free(resp);
        if (r < 0)
                *next = 0;
        ERR_clear_error();
        return r;
}

int ocsp_read_file(const char *path, unsigned char **ret, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        unsigned char *buf = NULL;
        long n;
        int r = 0;

        if (!f)
                return -errno;
        if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                r = -EIO;
                goto out;
        }
        if (n == 0 || n > (1 << 20)) {
                r = -EINVAL;
                goto out;
        }
        buf = malloc((size_t)n);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                r = -EIO;
                goto out;
        }
        *ret = buf;
        *ret_len = (size_t)n;
        buf = NULL;
out:
        free(buf);
        (void)fclose(f);
        return r;
}
