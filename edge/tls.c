/* SPDX-License-Identifier: MIT */
/*
 * TLS contexts and connections (see tls.h for the model). OpenSSL error codes and queues are
 * translated here and nowhere else: callers see -errno.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "aes-gcm.h"
#include "hex.h"
#include "log.h"

#include "edge-cfg.h"
#include "tls-cert-time.h"
#include "tls-ocsp.h"
#include "tls-ulp.h"
#include "tls-seal.h"
#include "tls-sni.h"
#include "tls-tickets.h"
#include "tls-rec.h"
#include "tls.h"

struct tls_cert {
        SSL_CTX *ctx;
        X509 *leaf; /* borrowed from ctx */
        bool ecdsa; /* its key is an EC key */
        int64_t not_after; /* the leaf's, Unix seconds (0: unreadable) */
        char *ocsp_path;     /* configured response file, for warnings; NULL: none */
        unsigned char *ocsp; /* the checked response (DER); NULL: nothing to staple */
        size_t ocsp_len;
        int64_t ocsp_next;      /* its nextUpdate, Unix seconds; 0: none given */
        atomic_bool ocsp_stale; /* nextUpdate passed while serving: said once, not stapled */
};

struct tls_ctx {
        atomic_int refs;
        struct tls_cert *certs; /* certs[0] is the default */
        size_t n_certs;
        struct tls_tickets *tickets;
        /* For a client that cannot take ECDSA and names no host we know, when certs[0] is an
         * ECDSA one: the certificate served instead (default_pick); 0 when none. */
        size_t default_rsa;
        bool ktls;
        bool ktls_able;         /* ktls on and the kernel has the tls module */
        unsigned char alpn[32]; /* server preference, wire format */
        size_t alpn_len;
};

struct tls_conn {
        struct tls_ctx *t;
        SSL *ssl;
        BIO *rbio;
        size_t retry_len; /* the len OpenSSL sealed before answering WANT_WRITE; 0 when none */
        bool done;
        bool ktls;
        enum tls_alpn alpn;
        int fd;
        int werr; /* a send error seen while flushing gathered records (-errno), or 0 */
        /* Sealed bytes the socket did not take (at most TLS_GATHER): sent before anything
         * else; malloc'd only while the socket is full. */
        char *left;
        size_t left_off, left_len;
        /* Where left's first record ends (from left's start; 0: unknown) and its plaintext,
         * and what a record adds to its plaintext: for tls_conn_unsent. */
        size_t left_first_end, left_first_plain, rec_overhead;
        size_t lost_plain; /* in records dropped unsent after a send error */
        /* Plaintext taken by tls_conn_write_all but not sealed yet (the socket was full):
         * sealed before anything else by tls_conn_flush; malloc'd only while held. */
        char *plain;
        size_t plain_off, plain_len;
        /* kTLS: the plaintext of the record OpenSSL is writing, kbuf_len bytes of it (see
         * ktls_write); kept while the connection lives, at most KTLS_CHUNK. */
        char *kbuf;
        size_t kbuf_len;
        /* The edge's own sealing (tls-seal.h). 'counted': every record OpenSSL wrote went
         * through the gathering BIO, so ossl_seq, the records it wrote since its write key
         * last changed, is known: TLS 1.3, since the key log gave the server's application
         * secret (secret_len > 0); TLS 1.2, since its ChangeCipherSpec (ccs_seen). Once
         * 'seal' is made, the edge seals application data itself; a record OpenSSL still
         * writes (an alert, a KeyUpdate) is opened with 'ossl' and sealed again with 'seal'. */
        bool counted, no_seal, ccs_seen;
        bool hello_seen; /* a second ClientHello (after a HelloRetryRequest) is not counted */
        unsigned suite;  /* the TLS 1.3 cipher suite's two-byte id */
        uint64_t ossl_seq;
        size_t plain_max; /* the most plaintext per record the edge seals */
        size_t secret_len;
        unsigned char secret[TLS_SEAL_SECRET_MAX];
        struct tls_seal *seal, *ossl;
};

/*
 * Userspace send path: OpenSSL hands the write BIO one sealed record (at most 16 KiB + 22) per
 * call. A socket BIO would make each a write(2); the gathering BIO below copies records into
 * a per-thread buffer and sends TLS_GATHER bytes at a time (a 64 KiB response in one send), at
 * the price of that one copy.
 * The buffer holds one connection's records at a time (the owner); it is emptied (sent, or
 * the unsent tail moved to the owner's left) by tls_conn_flush, before another connection's
 * records go in, and when the owner goes.
 */
#define TLS_GATHER (256u << 10)

static __thread struct {
        char *buf;
        size_t len;
        struct tls_conn *owner;
} gather;
static BIO_METHOD *gather_method;
static pthread_once_t gather_once = PTHREAD_ONCE_INIT;
static pthread_key_t gather_key;

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

/* The OpenSSL error queue belongs to this thread; a stale entry would be blamed on the next
 * call, so every failure path drains it (logging the first at debug level). */
static void drain_errors(const char *what)
{
        unsigned long e = ERR_get_error();
        char buf[256];

        if (e) {
                ERR_error_string_n(e, buf, sizeof(buf));
                log_debug("%s: %s", what, buf);
        }
        ERR_clear_error();
}

/* OpenSSL's ticket callback: the keys (tls-tickets.h) at the wall clock's time. */
static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
        struct tls_ctx *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
        int r = tls_tickets_cb(t->tickets, wall_ms(), name, iv, cctx, hctx, enc);

        if (r < 0)
                drain_errors("ticket");
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

/* Server preference: the first of ours the client offers. A malformed client list is
 * treated as offering nothing (no ALPN; the connection speaks HTTP/1.1). */
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
        return SSL_TLSEXT_ERR_NOACK;
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
        c->not_after = tls_cert_not_after(c->leaf);
        tls_cert_say_validity(cc->cert, c->leaf);
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
                STACK_OF(X509) *chain = NULL;
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
                } else if ((void)SSL_CTX_get0_chain_certs(c->ctx, &chain),
                           ocsp_check(c->ocsp, c->ocsp_len, c->leaf, chain, &c->ocsp_next, why,
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
        drain_errors("context");
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

/* ---- connections ---- */

/* buf[0..len) holds whole records, its first 'sent' bytes on the socket, the rest dropped after
 * a send error: their plaintext never goes out (tls_conn_unsent). */
static void lose(struct tls_conn *tc, const char *buf, size_t len, size_t sent)
{
        tc->lost_plain += tls_rec_unsent((const unsigned char *)buf, len, sent, tc->rec_overhead);
}

/* Send what can go of buf; the rest becomes tc->left. Returns 0 or -errno (not -EAGAIN). */
static int send_or_keep(struct tls_conn *tc, const char *buf, size_t len)
{
        const char *whole = buf;
        size_t whole_len = len;
        ssize_t n = 0;

        while (len) {
                n = send(tc->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                buf += n;
                len -= (size_t)n;
        }
        if (len == 0)
                return 0;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
                tc->werr = -errno;
                goto lost;
        }
        tc->left = malloc(len);
        if (!tc->left) {
                tc->werr = -ENOMEM;
                goto lost;
        }
        memcpy(tc->left, buf, len);
        tc->left_off = 0;
        tc->left_len = len;
        tls_rec_cut((const unsigned char *)whole, whole_len, whole_len - len, tc->rec_overhead,
                    &tc->left_first_end, &tc->left_first_plain);
        return 0;
lost:
        lose(tc, whole, whole_len, whole_len - len);
        return tc->werr;
}

/* Empty the gather buffer into its owner's socket (or left). */
static void gather_out(void)
{
        struct tls_conn *tc = gather.owner;

        if (tc && gather.len && tc->werr) {
                lose(tc, gather.buf, gather.len, 0);
        } else if (tc && gather.len) {
                if (!tc->left_len) {
                        (void)send_or_keep(tc, gather.buf, gather.len);
                } else {
                        /* Not expected (records go in only once left is out); keep order. */
                        char *p = realloc(tc->left, tc->left_off + tc->left_len + gather.len);
                        if (p) {
                                memcpy(p + tc->left_off + tc->left_len, gather.buf, gather.len);
                                tc->left = p;
                                tc->left_len += gather.len;
                        } else {
                                tc->werr = -ENOMEM;
                                lose(tc, gather.buf, gather.len, 0);
                        }
                }
        }
        gather.len = 0;
        gather.owner = NULL;
}

/* Send tc->left. Returns 1 when empty, 0 when the socket is full, -errno. */
static int left_out(struct tls_conn *tc)
{
        while (tc->left_len) {
                ssize_t n = send(tc->fd, tc->left + tc->left_off, tc->left_len,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : (tc->werr = -errno);
                tc->left_off += (size_t)n;
                tc->left_len -= (size_t)n;
        }
        free(tc->left);
        tc->left = NULL;
        tc->left_off = 0;
        return 1;
}

/* This thread's gather buffer, made on first use (freed by gather_free). */
static char *gather_buf(void)
{
        if (!gather.buf) {
                gather.buf = malloc(TLS_GATHER);
                if (gather.buf)
                        (void)pthread_setspecific(gather_key, gather.buf);
        }
        return gather.buf;
}

/*
 * Records OpenSSL sealed under its write key before the edge took the sealing over: the
 * sequence number to go on from. A ChangeCipherSpec starts the next key (TLS 1.2, RFC 5246
 * section 6.1; in TLS 1.3 it comes before the key log's application secret, which starts the
 * count again). One written after the handshake (before the edge sealed anything: a
 * KeyUpdate, an alert) may have changed OpenSSL's key: then OpenSSL keeps sealing.
 */
static void count_records(struct tls_conn *tc, const unsigned char *p, size_t len)
{
        if (tc->done)
                tc->no_seal = true;
        while (len >= 5) {
                size_t n = tls_rec_len(p);
                if (n > len)
                        break;
                if (p[0] == TLS_CT_CCS)
                        tc->ccs_seen = true, tc->ossl_seq = 0;
                else
                        tc->ossl_seq++;
                p += n;
                len -= n;
        }
        if (len)
                tc->no_seal = true; /* not whole records: the count cannot be trusted */
}

/*
 * A record OpenSSL wrote after the edge took the sealing over (a close_notify, or the
 * KeyUpdate that answers the client's): open it under OpenSSL's key and sequence number, seal
 * it again under the edge's, into the gather buffer (the caller made room for len bytes). A
 * KeyUpdate moves both to the next secret, as OpenSSL moves itself after writing it.
 */
static int reseal(struct tls_conn *tc, const unsigned char *p, size_t len)
{
        unsigned char *plain = malloc(len);
        int r = plain ? 0 : -ENOMEM;

        if (r == 0 && !tc->ossl)
                r = tls_seal_new(tc->suite, tc->secret, tc->secret_len, tc->ossl_seq, &tc->ossl);
        while (r == 0 && len >= 5) {
                size_t n = tls_rec_len(p), plen;
                uint8_t type;

                if (n > len) {
                        r = -EBADMSG;
                        break;
                }
                r = tls_seal_open(tc->ossl, p, n, plain, &plen, &type);
                if (r == 0)
                        r = tls_seal_record(tc->seal, type, plain, plen,
                                            (unsigned char *)gather.buf + gather.len);
                if (r < 0)
                        break;
                gather.len += plen + tls_seal_overhead(tc->seal);
                gather.owner = tc;
                if (type == TLS_CT_HANDSHAKE && plen > 0 && plain[0] == 24 /* key_update */) {
                        r = tls_seal_update(tc->ossl);
                        if (r == 0)
                                r = tls_seal_update(tc->seal);
                }
                p += n;
                len -= n;
        }
        if (r == 0 && len)
                r = -EBADMSG;
        free(plain);
        if (r < 0) {
                tc->werr = r;
                errno = -r;
        }
        return r;
}

static int gather_write(BIO *b, const char *data, int dlen)
{
        struct tls_conn *tc = BIO_get_data(b);
        size_t len = dlen > 0 ? (size_t)dlen : 0;
        int r;

        BIO_clear_retry_flags(b);
        if (tc->werr) {
                errno = -tc->werr;
                return -1;
        }
        if (gather.owner != tc || gather.len + len > TLS_GATHER)
                gather_out();
        r = left_out(tc);
        if (r <= 0) {
                if (r == 0)
                        BIO_set_retry_write(b);
                else
                        errno = -r;
                return -1;
        }
        if (!gather_buf()) {
                tc->werr = -ENOMEM;
                errno = ENOMEM;
                return -1;
        }
        if (tc->seal)
                return reseal(tc, (const unsigned char *)data, len) < 0 ? -1 : dlen;
        if (tc->counted)
                count_records(tc, (const unsigned char *)data, len);
        if (len > TLS_GATHER) { /* never from OpenSSL's record layer; kept correct anyway */
                r = send_or_keep(tc, data, len);
                return r < 0 ? -1 : dlen;
        }
        memcpy(gather.buf + gather.len, data, len);
        gather.len += len;
        gather.owner = tc;
        return dlen;
}

static long gather_ctrl(BIO *b, int cmd, long num, void *ptr)
{
        struct tls_conn *tc = BIO_get_data(b);

        (void)num;
        (void)ptr;
        switch (cmd) {
        case BIO_CTRL_FLUSH:
                if (gather.owner == tc)
                        gather_out();
                if (!tc->done && left_out(tc) == 0) {
                        /* A handshake flight the socket did not take: OpenSSL asks again
                         * (WANT_WRITE) rather than wait for the peer's answer to it. */
                        BIO_set_retry_write(b);
                        return -1;
                }
                return 1;
        case BIO_CTRL_WPENDING:
                return (long)(tc->left_len + (gather.owner == tc ? gather.len : 0));
        default:
                return 0;
        }
}

/* Runs in the exiting thread. */
static void gather_free(void *buf)
{
        free(buf);
        gather.buf = NULL;
        gather.len = 0;
        gather.owner = NULL;
}

static void gather_init(void)
{
        (void)pthread_key_create(&gather_key, gather_free);
        gather_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice gather");
        if (gather_method && (!BIO_meth_set_write(gather_method, gather_write) ||
                              !BIO_meth_set_ctrl(gather_method, gather_ctrl))) {
                BIO_meth_free(gather_method);
                gather_method = NULL;
        }
}

/* Records go out through the gathering BIO: from the start without kTLS, after the handshake
 * when kTLS was wanted and not had. Best effort: without it (out of memory) the socket BIO
 * stays. Returns whether it is attached. */
static bool gather_attach(struct tls_conn *tc)
{
        BIO *b;

        (void)pthread_once(&gather_once, gather_init);
        if (!gather_method || BIO_wpending(SSL_get_wbio(tc->ssl)) > 0)
                return false;
        b = BIO_new(gather_method);
        if (!b)
                return false;
        BIO_set_data(b, tc);
        BIO_set_init(b, 1);
        SSL_set0_wbio(tc->ssl, b); /* frees the socket BIO (BIO_NOCLOSE: the fd stays) */
        return true;
}

/* Seal the plaintext tls_conn_write_all kept. Returns 1 when none is left, 0, -errno. */
static int plain_out(struct tls_conn *tc)
{
        while (tc->plain_off < tc->plain_len) {
                ssize_t n =
                    tls_conn_write(tc, tc->plain + tc->plain_off, tc->plain_len - tc->plain_off);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int)n;
                tc->plain_off += (size_t)n;
        }
        free(tc->plain);
        tc->plain = NULL;
        tc->plain_off = tc->plain_len = 0;
        return 1;
}

int tls_conn_write_all(struct tls_conn *tc, const void *buf, size_t len)
{
        ssize_t n = 0;

        if (tc->plain_len)
                return -EBUSY; /* a caller bug: what is held goes first */
        if (len)
                n = tls_conn_write(tc, buf, len);
        if (n == -EAGAIN)
                n = 0;
        if (n < 0)
                return (int)n;
        if ((size_t)n == len)
                return 1;
        /* OpenSSL may hold a record sealed from buf + n: the copy hands it the same bytes. */
        tc->plain = malloc(len - (size_t)n);
        if (!tc->plain)
                return -ENOMEM;
        memcpy(tc->plain, (const char *)buf + n, len - (size_t)n);
        tc->plain_off = 0;
        tc->plain_len = len - (size_t)n;
        return 0;
}

bool tls_conn_holding(const struct tls_conn *tc)
{
        return tc->plain_len > 0;
}

size_t tls_conn_unsent(const struct tls_conn *tc)
{
        size_t n = tc->plain_len - tc->plain_off + tc->lost_plain, end = tc->left_first_end;
        size_t total = tc->left_off + tc->left_len;
        const unsigned char *left = (const unsigned char *)tc->left;

        if (tc->left_len && end) {
                if (tc->left_off < end)
                        n += tc->left_first_plain;
                if (total > end)
                        n += tls_rec_unsent(left + end, total - end,
                                            tc->left_off > end ? tc->left_off - end : 0,
                                            tc->rec_overhead);
        }
        if (gather.owner == tc)
                n += tls_rec_unsent((const unsigned char *)gather.buf, gather.len, 0,
                                    tc->rec_overhead);
        return n;
}

int tls_conn_flush(struct tls_conn *tc)
{
        for (;;) {
                int p = tc->plain_len ? plain_out(tc) : 1, r = 1;
                bool had_left;

                if (p < 0)
                        return p;
                if (gather.owner == tc)
                        gather_out();
                if (tc->werr)
                        return tc->werr;
                had_left = tc->left_len > 0;
                if (had_left)
                        r = left_out(tc);
                if (r <= 0)
                        return r;
                /* Kept plaintext waits on the socket: go round only if it just made room. */
                if (p == 1 || !had_left)
                        return p;
        }
}

int tls_conn_new(struct tls_ctx *t, int fd, struct tls_conn **ret)
{
        struct tls_conn *tc = calloc(1, sizeof(*tc));
        BIO *wbio = NULL;

        if (!tc)
                return -ENOMEM;
        tc->ssl = SSL_new(t->certs[0].ctx);
        tc->rbio = BIO_new(BIO_s_mem());
        wbio = BIO_new_socket(fd, BIO_NOCLOSE);
        if (!tc->ssl || !tc->rbio || !wbio) {
                BIO_free(tc->rbio);
                BIO_free(wbio);
                SSL_free(tc->ssl);
                free(tc);
                drain_errors("new connection");
                return -ENOMEM;
        }
        /* An empty read BIO means "more to come", not EOF. */
        BIO_set_mem_eof_return(tc->rbio, -1);
        SSL_set_bio(tc->ssl, tc->rbio, wbio);
        SSL_set_accept_state(tc->ssl);
        SSL_set_app_data(tc->ssl, tc);
        tc->fd = fd;
        tc->t = tls_ctx_ref(t);
        if (!t->ktls_able)
                tc->counted = gather_attach(tc);
        *ret = tc;
        return 0;
}

void tls_conn_free(struct tls_conn *tc)
{
        if (!tc)
                return;
        if (gather.owner == tc) {
                gather.len = 0;
                gather.owner = NULL;
        }
        SSL_free(tc->ssl); /* frees both BIOs; the fd stays open (BIO_NOCLOSE) */
        (void)tls_ctx_unref(tc->t);
        tls_seal_free(tc->seal);
        tls_seal_free(tc->ossl);
        OPENSSL_cleanse(tc->secret, sizeof(tc->secret));
        free(tc->left);
        free(tc->plain);
        free(tc->kbuf);
        free(tc);
}

int tls_conn_feed(struct tls_conn *tc, const void *buf, size_t len)
{
        if (BIO_ctrl_pending(tc->rbio) + len > TLS_IN_MAX)
                return -ENOBUFS;
        if (len > 0 && BIO_write(tc->rbio, buf, (int)len) != (int)len) {
                drain_errors("feed");
                return -ENOMEM;
        }
        return 0;
}

/* SSL_get_error → -errno. ret is what the SSL call returned. */
static int ssl_errno(struct tls_conn *tc, int ret, const char *what)
{
        int e = SSL_get_error(tc->ssl, ret);

        switch (e) {
        case SSL_ERROR_WANT_READ:
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        case SSL_ERROR_SYSCALL:
                drain_errors(what);
                return errno ? -errno : -ECONNRESET;
        default:
                drain_errors(what);
                return -EPROTO;
        }
}

static void handshake_done(struct tls_conn *tc)
{
        struct tls_stats *st = &tc->t->tickets->stats;
        const unsigned char *p;
        unsigned n;

        tc->done = true;
        SSL_get0_alpn_selected(tc->ssl, &p, &n);
        if (n == 2 && !memcmp(p, "h2", 2)) {
                tc->alpn = TLS_ALPN_H2;
                atomic_fetch_add(&st->alpn_h2, 1);
        } else {
                tc->alpn = n ? TLS_ALPN_HTTP11 : TLS_ALPN_NONE;
        }
        tc->ktls = BIO_get_ktls_send(SSL_get_wbio(tc->ssl)) == 1;
        tc->rec_overhead = tls_rec_overhead(
            SSL_version(tc->ssl), SSL_CIPHER_get_cipher_nid(SSL_get_current_cipher(tc->ssl)));
        if (!tc->ktls && !tc->counted)
                (void)gather_attach(tc);
        atomic_fetch_add(&st->handshakes, 1);
        if (SSL_session_reused(tc->ssl))
                atomic_fetch_add(&st->resumed, 1);
        atomic_fetch_add(tc->ktls ? &st->ktls : &st->userspace, 1);
}

int tls_conn_handshake(struct tls_conn *tc)
{
        int r;

        if (tc->done)
                return 1;
        ERR_clear_error();
        errno = 0;
        r = SSL_do_handshake(tc->ssl);
        if (r == 1) {
                handshake_done(tc);
                return 1;
        }
        if (SSL_get_error(tc->ssl, r) == SSL_ERROR_WANT_READ) {
                ERR_clear_error();
                return 0;
        }
        r = ssl_errno(tc, r, "handshake");
        if (r == -EAGAIN)
                return -EAGAIN;
        atomic_fetch_add(&tc->t->tickets->stats.failed, 1);
        return r == 0 ? -EPROTO : r;
}

ssize_t tls_conn_read(struct tls_conn *tc, void *buf, size_t cap)
{
        size_t got = 0;
        int r;

        /* Nothing fed and nothing held: the call could only say so, at the cost of clearing
         * and reading the error queue. A drain ends with this case every time. */
        if (BIO_ctrl_pending(tc->rbio) == 0 && !SSL_has_pending(tc->ssl) && !SSL_in_init(tc->ssl))
                return -EAGAIN;
        ERR_clear_error();
        errno = 0;
        r = SSL_read_ex(tc->ssl, buf, cap, &got);
        if (r == 1)
                return (ssize_t)got;
        return ssl_errno(tc, r, "read");
}

/*
 * TLS 1.2: the server's write key from the session's master secret and the randoms, twice:
 * one state for the edge's records, one to open what OpenSSL still writes (see reseal).
 */
static int seal_start12(struct tls_conn *tc, const SSL_CIPHER *c, const SSL_SESSION *sess)
{
        unsigned char master[TLS_SEAL_MASTER_LEN], cr[TLS_SEAL_RANDOM_LEN], sr[TLS_SEAL_RANDOM_LEN];
        size_t n = SSL_SESSION_get_master_key(sess, master, sizeof(master));
        const EVP_MD *prf = SSL_CIPHER_get_handshake_digest(c);
        int nid = SSL_CIPHER_get_cipher_nid(c), r = -EIO;

        if (n == sizeof(master) && prf &&
            SSL_get_client_random(tc->ssl, cr, sizeof(cr)) == sizeof(cr) &&
            SSL_get_server_random(tc->ssl, sr, sizeof(sr)) == sizeof(sr)) {
                r = tls_seal_new12(nid, prf, master, n, cr, sr, tc->ossl_seq, &tc->seal);
                if (r == 0)
                        r = tls_seal_new12(nid, prf, master, n, cr, sr, tc->ossl_seq, &tc->ossl);
        }
        OPENSSL_cleanse(master, sizeof(master));
        if (r < 0) {
                tls_seal_free(tc->seal);
                tc->seal = NULL;
        }
        return r;
}

/* Whether the edge seals this connection's records itself from now on (see struct tls_conn). */
static bool seal_start(struct tls_conn *tc)
{
        const SSL_CIPHER *c = SSL_get_current_cipher(tc->ssl);
        SSL_SESSION *sess = SSL_get_session(tc->ssl);
        int r = -ENOTSUP;
        uint8_t mfl;

        if (!tc->counted || !tc->done || tc->no_seal || tc->retry_len || !c || !sess)
                goto no;
        /* A client that asked for shorter records (max_fragment_length, RFC 6066 section 4:
         * 2^9 to 2^12 bytes) gets them from the edge too. */
        mfl = SSL_SESSION_get_max_fragment_length(sess);
        if (mfl >= TLSEXT_max_fragment_length_512 && mfl <= TLSEXT_max_fragment_length_4096)
                tc->plain_max = 256u << mfl;
        else if (mfl == TLSEXT_max_fragment_length_DISABLED)
                tc->plain_max = TLS_SEAL_PLAIN_MAX;
        else
                goto no;
        if (SSL_version(tc->ssl) == TLS1_3_VERSION && tc->secret_len) {
                tc->suite = SSL_CIPHER_get_protocol_id(c);
                r = tls_seal_new(tc->suite, tc->secret, tc->secret_len, tc->ossl_seq, &tc->seal);
        } else if (SSL_version(tc->ssl) == TLS1_2_VERSION && tc->ccs_seen) {
                r = seal_start12(tc, c, sess);
        }
        if (r == 0) {
                atomic_fetch_add(&tc->t->tickets->stats.edge_sealed, 1);
                return true;
        }
no:
        tc->no_seal = true;
        return false;
}

/*
 * OpenSSL answers a client's KeyUpdate request when it next writes, which it no longer does
 * once the edge seals: have it write the answer now, ahead of any application data (it goes
 * through reseal, which moves the edge to the next key). OpenSSL forgets the request as it
 * builds the message, before writing it: a KeyUpdate the socket could not take yet (bytes of
 * ours still waiting) shows only as the handshake still under way, and goes out first too.
 * Returns 0, -EAGAIN, -errno.
 */
static int key_update_out(struct tls_conn *tc)
{
        int r;

        if (SSL_get_key_update_type(tc->ssl) == SSL_KEY_UPDATE_NONE && !SSL_in_init(tc->ssl))
                return 0;
        ERR_clear_error();
        errno = 0;
        if (!SSL_in_init(tc->ssl) && SSL_key_update(tc->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {
                drain_errors("key update");
                return tc->werr = -EPROTO;
        }
        r = SSL_do_handshake(tc->ssl);
        if (r == 1)
                return 0;
        r = ssl_errno(tc, r, "key update");
        return r == 0 ? -EPROTO : r;
}

/* tls_conn_write once the edge seals: each record straight from buf into the gather buffer. */
static ssize_t seal_write(struct tls_conn *tc, const unsigned char *buf, size_t len)
{
        size_t total = 0;
        int k = key_update_out(tc);

        if (k < 0)
                return k;

        while (total < len) {
                size_t n = len - total < tc->plain_max ? len - total : tc->plain_max;
                int r;

                if (gather.owner != tc || gather.len + n + TLS_SEAL_OVERHEAD_MAX > TLS_GATHER)
                        gather_out();
                r = tc->werr ? tc->werr : left_out(tc);
                if (r <= 0)
                        return total ? (ssize_t)total : r == 0 ? -EAGAIN : r;
                if (!gather_buf())
                        return tc->werr = -ENOMEM;
                r = tls_seal_record(tc->seal, TLS_CT_APP_DATA, buf + total, n,
                                    (unsigned char *)gather.buf + gather.len);
                if (r < 0)
                        return tc->werr = r;
                gather.len += n + tls_seal_overhead(tc->seal);
                gather.owner = tc;
                total += n;
        }
        return (ssize_t)total;
}

/*
 * tls_conn_write under kTLS. There OpenSSL seals nothing itself: a record the socket did not
 * take stays pointed at in the caller's buffer, and the retry sends its rest from that pointer
 * whatever buffer it is given (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER is not honoured). The
 * edge's buffers are shared (a worker's head buffer, the h2 burst) and its retries come from a
 * copy, so another connection's bytes would go out in the rest. The plaintext therefore goes
 * through kbuf, the connection's own, one record at a time, and a retry (whose bytes start
 * with kbuf's, the callers' contract) hands OpenSSL kbuf again.
 */
#define KTLS_CHUNK 16384

static ssize_t ktls_write(struct tls_conn *tc, const char *buf, size_t len)
{
        size_t total = 0;

        if (len < tc->kbuf_len)
                return -EINVAL; /* a caller bug: a retry hands at least the bytes it held */
        while (total < len) {
                size_t put = 0;
                int r;

                if (tc->kbuf_len == 0) {
                        if (!tc->kbuf && !(tc->kbuf = malloc(KTLS_CHUNK)))
                                return total ? (ssize_t)total : -ENOMEM;
                        tc->kbuf_len = len - total < KTLS_CHUNK ? len - total : KTLS_CHUNK;
                        memcpy(tc->kbuf, buf + total, tc->kbuf_len);
                }
                ERR_clear_error();
                errno = 0;
                r = SSL_write_ex(tc->ssl, tc->kbuf, tc->kbuf_len, &put);
                if (r != 1) {
                        r = ssl_errno(tc, r, "write");
                        if (r == -EAGAIN)
                                return total ? (ssize_t)total : -EAGAIN;
                        return r == 0 ? -EPIPE : r;
                }
                total += put;
                tc->kbuf_len -= put;
                memmove(tc->kbuf, tc->kbuf + put, tc->kbuf_len);
        }
        return (ssize_t)total;
}

ssize_t tls_conn_write(struct tls_conn *tc, const void *buf, size_t len)
{
        size_t total = 0;
        int r;

        if (len == 0)
                return 0;
        if (tc->seal || (!tc->no_seal && seal_start(tc)))
                return seal_write(tc, buf, len);
        if (tc->ktls)
                return ktls_write(tc, buf, len);
        if (tc->retry_len && len < tc->retry_len)
                return -EINVAL; /* a caller bug: OpenSSL would refuse it as a bad retry */
        /* Partial-write mode returns after each record: keep sealing until the socket is full
         * or all is taken. */
        while (total < len) {
                size_t put = 0;
                ERR_clear_error();
                errno = 0;
                r = SSL_write_ex(tc->ssl, (const char *)buf + total, len - total, &put);
                if (r == 1) {
                        tc->retry_len = 0;
                        total += put;
                        continue;
                }
                r = ssl_errno(tc, r, "write");
                if (r == -EAGAIN) {
                        /* OpenSSL holds a sealed record of the bytes from buf + total: the
                         * next call starts there with at least this many. */
                        tc->retry_len = len - total;
                        return total ? (ssize_t)total : -EAGAIN;
                }
                return r == 0 ? -EPIPE : r;
        }
        return (ssize_t)total;
}

ssize_t tls_conn_sendfile(struct tls_conn *tc, int fd, off_t off, size_t len, char *scratch,
                          size_t cap)
{
        ssize_t n;

        if (len == 0)
                return 0;
        if (tc->ktls) {
                ERR_clear_error();
                errno = 0;
                n = SSL_sendfile(tc->ssl, fd, off, len, 0);
                if (n > 0)
                        return n;
                n = n == 0 ? 0 : ssl_errno(tc, (int)n, "sendfile");
                return n == 0 ? -EIO : n;
        }
        /* A retry must hand OpenSSL the same bytes again: re-read exactly those. */
        if (len > cap)
                len = cap;
        do
                n = pread(fd, scratch, len, off);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0 || (tc->retry_len && (size_t)n < tc->retry_len))
                return -EIO;
        return tls_conn_write(tc, scratch, (size_t)n);
}

ssize_t tls_conn_ktls_send_more(struct tls_conn *tc, const void *buf, size_t len)
{
        ssize_t n;

        /* An SSL_write still under way holds the bytes before these (a caller bug). */
        if (!tc->ktls || tc->kbuf_len)
                return -EINVAL;
        do
                n = send(tc->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
}

void tls_conn_idle(struct tls_conn *tc)
{
        /* Fails harmlessly while a record is still pending: then they are kept. */
        (void)SSL_free_buffers(tc->ssl);
        if (tc->kbuf_len == 0) {
                free(tc->kbuf);
                tc->kbuf = NULL;
        }
}

void tls_conn_shutdown(struct tls_conn *tc)
{
        if (!tc->done)
                return;
        ERR_clear_error();
        (void)SSL_shutdown(tc->ssl);
        ERR_clear_error();
        (void)tls_conn_flush(tc); /* the alert may sit in the gather buffer */
}

enum tls_alpn tls_conn_alpn(const struct tls_conn *tc)
{
        return tc->alpn;
}

bool tls_conn_ktls(const struct tls_conn *tc)
{
        return tc->ktls;
}

bool tls_conn_resumed(const struct tls_conn *tc)
{
        return SSL_session_reused(tc->ssl) == 1;
}

const char *tls_conn_version(const struct tls_conn *tc)
{
        return SSL_get_version(tc->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *tc)
{
        return SSL_get_cipher_name(tc->ssl);
}

const char *tls_conn_path(const struct tls_conn *tc)
{
        return tc->ktls ? "ktls" : "user";
}
