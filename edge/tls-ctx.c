/* SPDX-License-Identifier: MIT */
/*
 * TLS contexts (see tls.h for the model): one SSL_CTX per certificate, the callbacks that choose
 * among them from the ClientHello, ALPN, OCSP stapling and ticket keys, and their reload.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "aes-gcm.h"
#include "hex.h"
#include "log.h"

#include "edge-cfg.h"
#include "tls-cert-time.h"
#include "tls-ocsp.h"
#include "tls-priv.h"
#include "tls-sni.h"
#include "tls-tickets.h"
#include "tls-ulp.h"

/* Tests replace the clock to cross rotation boundaries without waiting. */
static uint64_t (*ticket_clock)(void);

static uint64_t wall_ms(void)
{
        struct timespec ts;

        if (ticket_clock)
                return ticket_clock();
        (void)clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* OpenSSL's ticket callback: the keys (tls-tickets.h) at the wall clock's time. */
static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
        struct tls_ctx *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
        int r = tls_tickets_cb(t->tickets, wall_ms(), name, iv, cctx, hctx, enc);

        if (r < 0)
                tls_errors_drain("ticket");
        return r;
}

/* ---- SNI, ALPN, OCSP ---- */

/* What the ClientHello says of ECDSA (tls-sni.h), from OpenSSL's view of it. */
static bool hello_takes_ecdsa(SSL *s)
{
        const unsigned char *sig = NULL, *ver = NULL, *suites = NULL;
        size_t sig_len = 0, ver_len = 0, suites_len;

        (void)SSL_client_hello_get0_ext(s, TLSEXT_TYPE_signature_algorithms, &sig, &sig_len);
        (void)SSL_client_hello_get0_ext(s, TLSEXT_TYPE_supported_versions, &ver, &ver_len);
        suites_len = SSL_client_hello_get0_ciphers(s, &suites);
        return tls_hello_takes_ecdsa(sig, sig_len, ver, ver_len, suites, suites_len);
}

/* The first certificate whose names match name under flags (X509_check_host's), or, when it
 * is ECDSA and the client cannot take ECDSA, the first one for the name that is not: naming
 * the host under flags first, then by a wildcard too (an ECDSA certificate for the host beside
 * an RSA wildcard for its domain). Each lives in its own context, so OpenSSL would not choose
 * between them itself. SIZE_MAX for none. The ClientHello is read for ECDSA only then. */
static size_t cert_pick(struct tls_ctx *t, SSL *s, const char *name, unsigned flags)
{
        size_t i = 0;

        while (i < t->n_certs && X509_check_host(t->certs[i].leaf, name, 0, flags, NULL) != 1)
                i++;
        if (i == t->n_certs)
                return SIZE_MAX;
        if (!t->certs[i].ecdsa || hello_takes_ecdsa(s))
                return i;
        for (int wild = 0; wild < 2; wild++)
                for (size_t j = 0; j < t->n_certs; j++)
                        if (!t->certs[j].ecdsa &&
                            X509_check_host(t->certs[j].leaf, name, 0, wild ? 0 : flags,
                                            NULL) == 1)
                                return j;
        return i;
}

/* For a ClientHello without a name we know: certs[0], or ctx_default_rsa's for a client that
 * cannot take ECDSA. */
static size_t default_pick(struct tls_ctx *t, SSL *s)
{
        return t->default_rsa && !hello_takes_ecdsa(s) ? t->default_rsa : 0;
}

/* Whether a and b list a DNS name in common (compared as written, wildcards included). */
static bool share_a_name(X509 *a, X509 *b)
{
        GENERAL_NAMES *na = X509_get_ext_d2i(a, NID_subject_alt_name, NULL, NULL);
        GENERAL_NAMES *nb = X509_get_ext_d2i(b, NID_subject_alt_name, NULL, NULL);
        bool same = false;

        for (int i = 0; i < sk_GENERAL_NAME_num(na) && !same; i++) {
                const GENERAL_NAME *x = sk_GENERAL_NAME_value(na, i);
                for (int j = 0; x->type == GEN_DNS && j < sk_GENERAL_NAME_num(nb) && !same; j++) {
                        const GENERAL_NAME *y = sk_GENERAL_NAME_value(nb, j);
                        same = y->type == GEN_DNS &&
                               ASN1_STRING_length(x->d.dNSName) ==
                                   ASN1_STRING_length(y->d.dNSName) &&
                               OPENSSL_strncasecmp(
                                   (const char *)ASN1_STRING_get0_data(x->d.dNSName),
                                   (const char *)ASN1_STRING_get0_data(y->d.dNSName),
                                   (size_t)ASN1_STRING_length(x->d.dNSName)) == 0;
                }
        }
        GENERAL_NAMES_free(na);
        GENERAL_NAMES_free(nb);
        return same;
}

/* When the default certificate is ECDSA: the first certificate whose key is not and that lists
 * one of the default's names (its RSA twin), else the first whose key is not; 0 for none. */
static size_t ctx_default_rsa(const struct tls_ctx *t)
{
        size_t first = 0;

        if (!t->certs[0].ecdsa)
                return 0;
        for (size_t j = 1; j < t->n_certs; j++) {
                if (t->certs[j].ecdsa)
                        continue;
                if (share_a_name(t->certs[0].leaf, t->certs[j].leaf))
                        return j;
                if (!first)
                        first = j;
        }
        return first;
}

/*
 * The certificate is chosen here, from the ClientHello, before OpenSSL looks at the
 * session the client offers: switching to its SSL_CTX takes that certificate's session-ID
 * context, so a session (by ID or ticket) made under another certificate is not resumed
 * (RFC 6066 §3) but leads to a full handshake. The servername callback runs after the
 * session is chosen, too late for that.
 */
static int client_hello_cb(SSL *s, int *al, void *arg)
{
        struct tls_ctx *t = arg;
        const unsigned char *ext;
        size_t len, i = SIZE_MAX;
        char name[256];

        (void)al;
        bool named = SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &ext, &len) &&
                     tls_sni_host_name(ext, len, name, sizeof(name)) > 0;

        /* A certificate naming the host itself before a wildcard that covers it. */
        if (named && tls_sni_usable(name) &&
            (i = cert_pick(t, s, name, X509_CHECK_FLAG_NO_WILDCARDS)) == SIZE_MAX)
                i = cert_pick(t, s, name, 0);
        if (i == SIZE_MAX) {
                /* No name (the default certificate), or one we do not know (counted). */
                struct tls_conn *tc = SSL_get_app_data(s);
                if (named && (!tc || !tc->hello_seen))
                        atomic_fetch_add(&t->tickets->stats.sni_unknown, 1);
                if (named && tc)
                        tc->hello_seen = true;
                i = default_pick(t, s);
        }
        if (i > 0 && !SSL_set_SSL_CTX(s, t->certs[i].ctx))
                return SSL_CLIENT_HELLO_ERROR;
        return SSL_CLIENT_HELLO_SUCCESS;
}

/* The certificate is already chosen (client_hello_cb); this acknowledges the name. */
static int servername_cb(SSL *s, int *al, void *arg)
{
        (void)s, (void)al, (void)arg;
        return SSL_TLSEXT_ERR_OK;
}

/* Server preference: the first of ours the client offers. A list with none of ours gets a
 * fatal no_application_protocol alert (RFC 7301 section 3.2: a client that asks only for h3
 * or spdy/3 must not be answered in a protocol it did not offer); OpenSSL sends it and the
 * handshake fails, counted as failed. A client that sends no ALPN is not called for here and
 * speaks HTTP/1.1. A malformed list (OpenSSL refuses one before this) is treated as none. */
static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
        struct tls_ctx *t = arg;

        (void)s;
        for (size_t i = 0; i < t->alpn_len; i += 1u + t->alpn[i]) {
                const unsigned char *ours = &t->alpn[i];
                for (unsigned j = 0; j < inlen;) {
                        unsigned n = in[j];
                        if (n == 0 || j + 1 + n > inlen)
                                return SSL_TLSEXT_ERR_NOACK;
                        if (n == ours[0] && !memcmp(in + j + 1, ours + 1, n)) {
                                *out = in + j + 1;
                                *outlen = (unsigned char)n;
                                return SSL_TLSEXT_ERR_OK;
                        }
                        j += 1 + n;
                }
        }
        return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/*
 * A client asked for the certificate's status. Only a response that passed ocsp_check at load
 * is stapled, and only until its nextUpdate: clients refuse a stale staple, while most go on
 * without one, so once nextUpdate has passed the staple stops, with one warning, until a
 * reload brings a fresh response. Counted either way (a growing "none" is worth a look).
 */
static int ocsp_cb(SSL *s, void *arg)
{
        struct tls_cert *c = arg;
        struct tls_ctx *t = SSL_CTX_get_app_data(c->ctx);
        unsigned char *copy;

        if (!c->ocsp)
                goto none;
        if (c->ocsp_next && (int64_t)(wall_ms() / 1000u) >= c->ocsp_next) {
                if (!atomic_exchange(&c->ocsp_stale, true))
                        log_warn("%s: OCSP response expired (nextUpdate passed), no longer "
                                 "stapled; refresh the file and reload",
                                 c->ocsp_path);
                goto none;
        }
        copy = OPENSSL_memdup(c->ocsp, c->ocsp_len);
        if (!copy)
                goto none; /* stapling is optional, never fatal */
        if (SSL_set_tlsext_status_ocsp_resp(s, copy, (long)c->ocsp_len) != 1) {
                OPENSSL_free(copy);
                goto none;
        }
        atomic_fetch_add(&t->tickets->stats.ocsp_stapled, 1);
        return SSL_TLSEXT_ERR_OK;
none:
        atomic_fetch_add(&t->tickets->stats.ocsp_none, 1);
        return SSL_TLSEXT_ERR_NOACK;
}

/* ---- contexts ---- */

/* The key log line with the server's application traffic secret: kept for tls-seal.h. */
static void keylog_cb(const SSL *s, const char *line)
{
        static const char label[] = "SERVER_TRAFFIC_SECRET_0 ";
        struct tls_conn *tc = SSL_get_app_data(s);
        const char *hex;
        size_t n;

        if (!tc || !tc->counted || strncmp(line, label, sizeof(label) - 1) != 0)
                return;
        hex = strchr(line + sizeof(label) - 1, ' '); /* after the client random */
        if (!hex)
                return;
        n = strlen(++hex);
        if (n % 2 || n / 2 > sizeof(tc->secret) || hex_decode(hex, n, tc->secret, n / 2) < 0)
                return;
        tc->secret_len = n / 2;
        tc->ossl_seq = 0;
}

/* The intermediate profile and our callbacks on one SSL_CTX. */
static int ctx_setup(struct tls_ctx *t, SSL_CTX *ctx, const struct edge_cfg_tls *cfg)
{
        static const unsigned char sid_ctx[] = "sluice-edge";
        uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;

        if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
            !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
            !SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) ||
            !SSL_CTX_set_ciphersuites(ctx, TLS_SUITES_13) ||
            !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) || !SSL_CTX_set_dh_auto(ctx, 1) ||
            !SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1))
                return -EINVAL;
        if (cfg->ktls)
                opts |= SSL_OP_ENABLE_KTLS;
        if (!cfg->tickets)
                opts |= SSL_OP_NO_TICKET;
        (void)SSL_CTX_set_options(ctx, opts);
        /* Tickets (and cached sessions) open for two rotation periods, as their keys are:
         * OpenSSL's default of two hours would end them sooner. */
        (void)SSL_CTX_set_timeout(ctx, (long)(2 * cfg->ticket_rotation_ms / 1000));
        /* Partial writes let a full socket return early; moving buffers let the caller retry
         * from wherever its bytes now live. Record buffers stay while a connection is busy
         * (SSL_MODE_RELEASE_BUFFERS would free and reallocate them between bursts, about 10%
         * of the HTTPS send cost here) and are returned when it goes idle on a worker holding
         * many connections (tls_conn_idle). */
        (void)SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        (void)SSL_CTX_set_app_data(ctx, t);
        SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, t);
        SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
        SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
        SSL_CTX_set_keylog_callback(ctx, keylog_cb);
        if (cfg->tickets && !SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb))
                return -EINVAL;
        return 0;
}

/* OpenSSL's passphrase callback: none is given (the key is refused, not prompted for). */
/* userdata: a bool set when the key asked for a passphrase (cert_load says so). */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
        (void)buf, (void)size, (void)rwflag;
        if (userdata)
                *(bool *)userdata = true;
        return 0;
}

/* A file that cannot be opened is the system's failure, with its reason (a start exits 1),
 * not contents that cannot be used (2): OpenSSL's own message would not tell them apart. */
static int file_opens(const char *path, char *err, size_t errlen)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
                int e = errno;

                snprintf(err, errlen, "%s: %s", path, strerror(e));
                return -e;
        }
        (void)close(fd);
        return 0;
}

static int cert_load(struct tls_ctx *t, struct tls_cert *c, const struct edge_cfg_tls *cfg,
                     const struct edge_cfg_tls_cert *cc, char *err, size_t errlen)
{
        int r;

        r = file_opens(cc->cert, err, errlen);
        if (r == 0)
                r = file_opens(cc->key, err, errlen);
        if (r < 0)
                return r == -EINVAL ? -EIO : r;

        c->ctx = SSL_CTX_new(TLS_server_method());
        if (!c->ctx) {
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        r = ctx_setup(t, c->ctx, cfg);
        if (r < 0) {
                snprintf(err, errlen, "cannot apply the TLS profile");
                return r;
        }
        if (SSL_CTX_use_certificate_chain_file(c->ctx, cc->cert) != 1) {
                snprintf(err, errlen, "%s: cannot load the certificate chain", cc->cert);
                return -EINVAL;
        }
        /* A key under a passphrase is refused, never prompted for: OpenSSL's default would
         * ask on the terminal, holding a reload (and the watchdog) on it, through system
         * calls the sandbox does not allow. */
        bool asked = false;

        SSL_CTX_set_default_passwd_cb(c->ctx, no_passphrase);
        SSL_CTX_set_default_passwd_cb_userdata(c->ctx, &asked);
        if (SSL_CTX_use_PrivateKey_file(c->ctx, cc->key, SSL_FILETYPE_PEM) != 1) {
                unsigned long e = ERR_peek_last_error();
                char why[160];

                SSL_CTX_set_default_passwd_cb_userdata(c->ctx, NULL);
                ERR_error_string_n(e, why, sizeof(why));
                ERR_clear_error();
                if (asked)
                        snprintf(err, errlen,
                                 "%s: cannot load the private key (one under a passphrase is "
                                 "not taken: store it without)",
                                 cc->key);
                else if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
                         (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
                          ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH))
                        snprintf(err, errlen, "%s does not match %s", cc->key, cc->cert);
                else
                        snprintf(err, errlen, "%s: cannot load the private key (%s)", cc->key,
                                 why);
                return -EINVAL;
        }
        SSL_CTX_set_default_passwd_cb_userdata(c->ctx, NULL);
        if (SSL_CTX_check_private_key(c->ctx) != 1) {
                snprintf(err, errlen, "%s does not match %s", cc->key, cc->cert);
                return -EINVAL;
        }
        c->leaf = SSL_CTX_get0_certificate(c->ctx);
        c->ecdsa = EVP_PKEY_get_base_id(X509_get0_pubkey(c->leaf)) == EVP_PKEY_EC;
        STACK_OF(X509) *served = NULL;
        (void)SSL_CTX_get0_chain_certs(c->ctx, &served);
        c->not_after = tls_cert_not_after(c->leaf, served);
        tls_cert_say_validity(cc->cert, c->leaf, served);
        /* Its own session-ID context: the leaf's SHA-256 (32 bytes, the most OpenSSL takes),
         * the same across reloads while the certificate stays. */
        unsigned char sid_ctx[EVP_MAX_MD_SIZE];
        unsigned int sid_len = 0;
        if (!X509_digest(c->leaf, EVP_sha256(), sid_ctx, &sid_len) ||
            sid_len > SSL_MAX_SID_CTX_LENGTH ||
            !SSL_CTX_set_session_id_context(c->ctx, sid_ctx, sid_len)) {
                snprintf(err, errlen, "%s: cannot set its session-ID context", cc->cert);
                return -EINVAL;
        }
        if (cc->ocsp && cc->ocsp[0]) {
                char why[160];
                c->ocsp_path = strdup(cc->ocsp);
                if (!c->ocsp_path) {
                        snprintf(err, errlen, "out of memory");
                        return -ENOMEM;
                }
                r = ocsp_read_file(cc->ocsp, &c->ocsp, &c->ocsp_len);
                if (r == -ENOENT) {
                        /* Not fetched yet: stapling starts with the reload that finds it. */
                        log_debug("%s: %s, no stapling", cc->ocsp, strerror(-r));
                } else if (r < 0) {
                        log_warn("%s: OCSP response for %s not stapled: %s", cc->ocsp, cc->cert,
                                 r == -EINVAL ? "empty or over 1 MiB" : strerror(-r));
                } else if (ocsp_check(c->ocsp, c->ocsp_len, c->leaf, served, &c->ocsp_next, why,
                                      sizeof(why)) < 0) {
                        /* Never a reason to refuse to start: serve without a staple. */
                        log_warn("%s: OCSP response for %s not stapled: %s", cc->ocsp, cc->cert,
                                 why);
                        free(c->ocsp);
                        c->ocsp = NULL;
                        c->ocsp_len = 0;
                }
                SSL_CTX_set_tlsext_status_cb(c->ctx, ocsp_cb);
                SSL_CTX_set_tlsext_status_arg(c->ctx, c);
        }
        return 0;
}

static void ctx_free(struct tls_ctx *t)
{
        for (size_t i = 0; t->certs && i < t->n_certs; i++) {
                SSL_CTX_free(t->certs[i].ctx);
                free(t->certs[i].ocsp);
                free(t->certs[i].ocsp_path);
        }
        free(t->certs);
        tls_tickets_unref(t->tickets);
        free(t);
}

int tls_ctx_new(const struct edge_cfg_tls *cfg, struct tls_ctx *prev, struct tls_ctx **ret,
                char *err, size_t errlen)
{
        static const char *const def_alpn[] = {"h2", "http/1.1"};
        const char *const *alpn = cfg->alpn.n ? (const char *const *)cfg->alpn.items : def_alpn;
        size_t n_alpn = cfg->alpn.n ? cfg->alpn.n : 2;
        struct tls_ctx *t;
        char why[256];
        int r;

        t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(err, errlen, "%s: out of memory", cfg->listen);
                return -ENOMEM;
        }
        atomic_init(&t->refs, 1);
        t->ktls = cfg->ktls;
        for (size_t i = 0; i < n_alpn; i++) {
                size_t n = strlen(alpn[i]);
                if (n == 0 || n > 255 || t->alpn_len + 1 + n > sizeof(t->alpn)) {
                        snprintf(err, errlen, "%s: bad ALPN list", cfg->listen);
                        r = -EINVAL;
                        goto out;
                }
                t->alpn[t->alpn_len++] = (unsigned char)n;
                memcpy(t->alpn + t->alpn_len, alpn[i], n);
                t->alpn_len += n;
        }
        if (prev && prev->tickets->period_ms == (uint64_t)cfg->ticket_rotation_ms) {
                t->tickets = prev->tickets;
                tls_tickets_ref(t->tickets);
        } else {
                t->tickets = tls_tickets_new((uint64_t)cfg->ticket_rotation_ms);
                if (!t->tickets) {
                        snprintf(err, errlen, "%s: out of memory", cfg->listen);
                        r = -ENOMEM;
                        goto out;
                }
        }
        t->certs = calloc(cfg->certs.n, sizeof(*t->certs));
        if (!t->certs) {
                snprintf(err, errlen, "%s: out of memory", cfg->listen);
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < cfg->certs.n; i++) {
                const struct edge_cfg_tls_cert *cc =
                    (const struct edge_cfg_tls_cert *)cfg->certs.items + i;
                t->n_certs = i + 1;
                r = cert_load(t, &t->certs[i], cfg, cc, why, sizeof(why));
                if (r < 0) {
                        snprintf(err, errlen, "%s: certs[%zu]: %s", cfg->listen, i, why);
                        goto out;
                }
        }
        t->default_rsa = ctx_default_rsa(t);
        t->ktls_able = cfg->ktls && tls_kernel_has_ulp();
        if (cfg->ktls && !t->ktls_able)
                log_warn("%s: tls.ktls is on, but the kernel has no tls module loaded (not in "
                         "/proc/sys/net/ipv4/tcp_available_ulp), and the sandboxed edge cannot "
                         "load it: records are encrypted in userspace. Load it at boot "
                         "(/lib/modules-load.d/sluice-tls.conf; docs/tls.md)",
                         cfg->listen);
        if (!t->ktls_able)
                log_info("%s: TLS 1.2 and 1.3 AES-GCM records sealed in userspace by %s",
                         cfg->listen,
                         aes_gcm_usable() ? "the edge (VAES, VPCLMULQDQ)"
                                          : "OpenSSL (SLUICE_AES_GCM=openssl, or no VAES)");
        *ret = t;
        t = NULL;
        r = 0;
out:
        if (t)
                ctx_free(t);
        tls_errors_drain("context");
        return r;
}

/* A new ticket schedule starts from the old one's counts: the counters never go back. What
 * connections of the old context count after this is not carried. */
_Static_assert(sizeof(struct tls_stats) % sizeof(atomic_uint_fast64_t) == 0,
               "struct tls_stats is counters only");
static void stats_carry(struct tls_stats *to, const struct tls_stats *from)
{
        atomic_uint_fast64_t *t = (atomic_uint_fast64_t *)to;
        const atomic_uint_fast64_t *f = (const atomic_uint_fast64_t *)from;

        for (size_t i = 0; i < sizeof(*to) / sizeof(*t); i++)
                atomic_fetch_add(&t[i], atomic_load(&f[i]));
}

void tls_ctx_share_tickets(struct tls_ctx *t, struct tls_ctx *prev)
{
        if (!prev || t->tickets == prev->tickets)
                return;
        if (t->tickets->period_ms != prev->tickets->period_ms) {
                stats_carry(&t->tickets->stats, &prev->tickets->stats);
                return;
        }
        tls_tickets_ref(prev->tickets);
        tls_tickets_unref(t->tickets);
        t->tickets = prev->tickets;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *t)
{
        if (t)
                atomic_fetch_add(&t->refs, 1);
        return t;
}

struct tls_ctx *tls_ctx_unref(struct tls_ctx *t)
{
        if (t && atomic_fetch_sub(&t->refs, 1) == 1)
                ctx_free(t);
        return NULL;
}

struct tls_stats *tls_ctx_stats(struct tls_ctx *t)
{
        return &t->tickets->stats;
}

int64_t tls_ctx_cert_not_after(const struct tls_ctx *t, size_t i)
{
        return i < t->n_certs ? t->certs[i].not_after : 0;
}

bool tls_ctx_ktls_wanted(const struct tls_ctx *t)
{
        return t->ktls;
}
