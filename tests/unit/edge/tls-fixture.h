/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Test certificates, made at test time with the openssl CLI: a local CA, leaf "a" (ECDSA
 * P-256, DNS a.test) and leaf "b" (RSA 2048, DNS b.test and *.b.test), both signed by the CA.
 * Clients in the tests trust only that CA and always verify the chain and the name.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tls_fixture {
        char dir[64];
        char ca[128], a_cert[128], a_key[128], b_cert[128], b_key[128];
};

/* Returns 0, or -1 when the openssl CLI is missing or failed (the caller skips). */
static int tls_fixture_make(struct tls_fixture *fx)
{
        char cmd[4096];
        int n;

        snprintf(fx->dir, sizeof(fx->dir), "/tmp/sluice-tls-XXXXXX");
        if (!mkdtemp(fx->dir))
                return -1;
        snprintf(fx->ca, sizeof(fx->ca), "%s/ca.pem", fx->dir);
        snprintf(fx->a_cert, sizeof(fx->a_cert), "%s/a.pem", fx->dir);
        snprintf(fx->a_key, sizeof(fx->a_key), "%s/a.key", fx->dir);
        snprintf(fx->b_cert, sizeof(fx->b_cert), "%s/b.pem", fx->dir);
        snprintf(fx->b_key, sizeof(fx->b_key), "%s/b.key", fx->dir);
        n = snprintf(
            cmd, sizeof(cmd),
            "set -e; cd %s; "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
            " -subj /CN=sluice-test-ca -keyout ca.key -out ca.pem "
            " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign; "
            "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=a.test "
            " -keyout a.key -out a.csr; "
            "printf 'subjectAltName=DNS:a.test\\nbasicConstraints=CA:FALSE\\n' > a.ext; "
            "openssl x509 -req -in a.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            " -extfile a.ext -out a.pem; "
            "openssl req -new -newkey rsa:2048 -nodes -subj /CN=b.test -keyout b.key -out b.csr; "
            "printf 'subjectAltName=DNS:b.test,DNS:*.b.test\\nbasicConstraints=CA:FALSE\\n' > "
            " b.ext; "
            "openssl x509 -req -in b.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            " -extfile b.ext -out b.pem; ) >/dev/null 2>&1",
            fx->dir);
        if (n < 0 || (size_t)n >= sizeof(cmd))
                return -1;
        /* The closing parenthesis above pairs with this opening one: quiet output. */
        memmove(cmd + 1, cmd, strlen(cmd) + 1);
        cmd[0] = '(';
        return system(cmd) == 0 ? 0 : -1;
}

static void tls_fixture_remove(struct tls_fixture *fx)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", fx->dir);
}
