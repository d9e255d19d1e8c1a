/* SPDX-License-Identifier: MIT */
/*
 * Undefined behaviour on purpose, for harness/ubsan-halts: a signed int overflows (on a value
 * the compiler cannot see), then the program says it went on and exits 0. In a build under
 * UBSan that must not happen: the test, a fuzz replay among them, has to fail there.
 */
#include <limits.h>
#include <stdio.h>

int main(int argc, char **argv)
{
        volatile int v = INT_MAX - 1 + argc; /* INT_MAX with no argument */

        (void)argv;
        v = v + 1;
        printf("went on after an overflow (%d)\n", v);
        return 0;
}
