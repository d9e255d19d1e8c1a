/* SPDX-License-Identifier: MIT */
/* A certificate's validity period, read at load: said in the log, shown in the metrics. */
#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls-cert-time.h"

/* Seconds from now to t (negative once past); 0 when t cannot be read. */
static int64_t from_now(const ASN1_TIME *t)
{
        int days = 0, secs = 0;

        if (!t || !ASN1_TIME_diff(&days, &secs, NULL, t))
                return 0;
        return (int64_t)days * 86400 + secs;
}

int64_t tls_cert_not_after(X509 *leaf)
{
        struct tm tm;
        const ASN1_TIME *t = leaf ? X509_get0_notAfter(leaf) : NULL;

        if (!t || !ASN1_TIME_to_tm(t, &tm))
                return 0;
        return (int64_t)timegm(&tm);
}

void tls_cert_say_validity(const char *path, X509 *leaf)
{
        int64_t left = from_now(X509_get0_notAfter(leaf));
        int64_t until = from_now(X509_get0_notBefore(leaf));

        if (left <= 0)
                log_warn("%s: the certificate expired %lld day(s) ago; clients refuse it: "
                         "renew it and reload",
                         path, (long long)(-left / 86400));
        else if (until > 0)
                log_warn("%s: the certificate is not valid for another %lld hour(s); clients "
                         "refuse it until then (the issuer's clock, or this machine's?)",
                         path, (long long)((until + 3599) / 3600));
        else if (left < TLS_CERT_WARN_DAYS * 86400)
                log_warn("%s: the certificate expires in %lld day(s): renew it and reload", path,
                         (long long)(left / 86400));
}
