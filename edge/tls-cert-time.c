/* SPDX-License-Identifier: MIT */
/* A certificate chain's validity periods, read at load: said in the log, shown in the metrics. */
#include <stdio.h>
#include <time.h>

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

/* x's notAfter as Unix seconds; 0 when it cannot be read. */
static int64_t not_after(X509 *x)
{
        struct tm tm;
        const ASN1_TIME *t = x ? X509_get0_notAfter(x) : NULL;

        if (!t || !ASN1_TIME_to_tm(t, &tm))
                return 0;
        return (int64_t)timegm(&tm);
}

int64_t tls_cert_not_after(X509 *leaf, STACK_OF(X509) * chain)
{
        int64_t first = not_after(leaf);

        for (int i = 0; i < sk_X509_num(chain); i++) {
                int64_t t = not_after(sk_X509_value(chain, i));
                if (t && (!first || t < first))
                        first = t;
        }
        return first;
}

/* The warnings for one certificate of path, which what names. */
static void say(const char *path, const char *what, X509 *x)
{
        int64_t left = from_now(X509_get0_notAfter(x));
        int64_t until = from_now(X509_get0_notBefore(x));

        if (left <= 0)
                log_warn("%s: %s expired %lld day(s) ago; clients refuse it: renew it and reload",
                         path, what, (long long)(-left / 86400));
        else if (until > 0)
                log_warn("%s: %s is not valid for another %lld hour(s); clients refuse it until "
                         "then (the issuer's clock, or this machine's?)",
                         path, what, (long long)((until + 3599) / 3600));
        else if (left < TLS_CERT_WARN_DAYS * 86400)
                log_warn("%s: %s expires in %lld day(s): renew it and reload", path, what,
                         (long long)(left / 86400));
}

void tls_cert_say_validity(const char *path, X509 *leaf, STACK_OF(X509) * chain)
{
        say(path, "the certificate", leaf);
        /* An intermediate past its date breaks the chain for clients as the leaf's would. */
        for (int i = 0; i < sk_X509_num(chain); i++) {
                char subject[160], what[200];
                X509 *x = sk_X509_value(chain, i);

                if (!X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject)))
                        subject[0] = '\0';
                (void)snprintf(what, sizeof(what), "certificate %d in the file (%s)", i + 2,
                               subject);
                say(path, what, x);
        }
}
