/* SPDX-License-Identifier: MIT */
/*
 * Preloaded into h2load by tls_bench.py --tls12 (and h2c_cost.py --tls12): h2load sets its
 * highest TLS version itself, over any OpenSSL configuration, and has no option for it; this
 * caps it at TLS 1.2. For the benchmark's client only; never loaded into a server.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/ssl.h>

long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg)
{
        static long (*real)(SSL_CTX *, int, long, void *);

        if (!real)
                real = (long (*)(SSL_CTX *, int, long, void *))dlsym(RTLD_NEXT, "SSL_CTX_ctrl");
        if (cmd == SSL_CTRL_SET_MAX_PROTO_VERSION && (larg == 0 || larg > TLS1_2_VERSION))
                larg = TLS1_2_VERSION;
        return real(ctx, cmd, larg, parg);
}
