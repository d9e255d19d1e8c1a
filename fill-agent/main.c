/* SPDX-License-Identifier: MIT */
/* sluice-fill: the operators' fill agent. Everything is in cli.c and the modules it calls. */
#include "cli.h"

int main(int argc, char **argv)
{
        return cli_main(argc, argv);
}
