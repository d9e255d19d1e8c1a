/* SPDX-License-Identifier: MIT */
#pragma once

/* SLUICE_ASAN: 1 in a build with AddressSanitizer. gcc names it with a macro, clang 14 only
 * through __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLUICE_ASAN 1
#endif
#endif
#ifndef SLUICE_ASAN
#define SLUICE_ASAN 0
#endif
