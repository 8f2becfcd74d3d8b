/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef DYNMEM_TEST_FIXTURE_H
#define DYNMEM_TEST_FIXTURE_H

#include <stddef.h>

/*
 * The folder tests/fixtures/SUB (SUB may be ""): under $DYNMEM_FIXTURES, else from the
 * current directory, else next to the test binary (.output/tests/../../tests/fixtures).
 * 0, or -1 after saying on stderr where it looked.
 */
int fixture_dir(const char *test, const char *sub, char *buf, size_t len);

#endif
