/*
 * lib/types.h: small shared scalar types and compiler helpers.
 *
 * Network-order fields get their own names so that a reader (and a grep) can
 * tell a wire value from a host value: rp_be16 / rp_be32 hold big-endian
 * data exactly as it sits in a packet. Convert with ntohs/ntohl/htons/htonl.
 */
#ifndef RP_LIB_TYPES_H
#define RP_LIB_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint16_t rp_be16;   /* big-endian 16-bit wire value */
typedef uint32_t rp_be32;   /* big-endian 32-bit wire value */
typedef uint64_t rp_be64;   /* big-endian 64-bit wire value */

#define RP_LIKELY(x)   __builtin_expect(!!(x), 1)
#define RP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RP_CACHE_LINE 64
#define RP_PREFETCH(p) __builtin_prefetch(p)

/* Invariant check that stays on in release builds (design.md section 6). */
void rp_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define RP_ASSERT(e) ((e) ? (void)0 : rp_assert_fail(#e, __FILE__, __LINE__))

/* Argument checks that exist only in debug builds (hot paths). */
#ifdef RP_DEBUG
#define RP_DEBUG_ASSERT(e) RP_ASSERT(e)
#else
#define RP_DEBUG_ASSERT(e) ((void)0)
#endif

#endif
