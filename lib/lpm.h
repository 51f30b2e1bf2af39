/*
 * lib/lpm.h: IPv4 longest-prefix match for a full Internet table, with
 * interned ECMP next-hop sets.
 *
 * DIR-24-8 (Gupta, Lin, McKeown): a 16M-entry first level indexed by the top
 * 24 bits and 256-entry second-level groups for /25../32, so a lookup is at
 * most two memory reads; lpm_lookup_bulk prefetches first-level entries a few
 * keys ahead so the misses overlap. Every entry records the length of the
 * prefix that filled it, which makes updates incremental: an add only
 * overwrites entries of shorter prefixes, a delete only restores entries the
 * deleted prefix filled, with the nearest covering prefix found in the
 * per-length rule tables (the control-side source of truth). Updates and
 * lookups run on the same thread; nothing here locks.
 *
 * Values are 24-bit (0 .. LPM_MAX_VALUE): next-hop ids or next-hop set ids,
 * as the caller decides. Prefixes are host order; host bits must be zero.
 */
#ifndef RP_LIB_LPM_H
#define RP_LIB_LPM_H

#include "lib/types.h"

#define LPM_NONE UINT32_MAX
#define LPM_MAX_VALUE 0xfffffeu

struct lpm;

int lpm_create(struct lpm **out);
void lpm_destroy(struct lpm *l);
/* 0; replaces the value of an existing identical prefix. -EINVAL for len > 32,
 * host bits set or value > LPM_MAX_VALUE; -ENOMEM; -ENOSPC out of groups. */
int lpm_add(struct lpm *l, uint32_t prefix, uint8_t len, uint32_t value);
int lpm_del(struct lpm *l, uint32_t prefix, uint8_t len);   /* 0 / -ENOENT / -EINVAL */
int lpm_get(const struct lpm *l, uint32_t prefix, uint8_t len, uint32_t *value);   /* exact prefix */
uint32_t lpm_count(const struct lpm *l);
size_t lpm_memory(const struct lpm *l);

#define LPM_TBL24_VALID 0x80000000u
#define LPM_TBL24_EXT 0x40000000u

/* struct lpm begins with this view, so that lookups inline; treat it as
 * opaque. Entry: VALID | EXT | depth (6 bits) << 24 | value (24 bits); with
 * EXT, the low 30 bits index a 256-entry group of tbl8. */
struct lpm_lookup_view {
    uint32_t *tbl24;
    uint32_t *tbl8;
};

static inline const struct lpm_lookup_view *lpm_view(const struct lpm *l)
{
    return (const struct lpm_lookup_view *)(const void *)l;
}

static inline uint32_t lpm_entry_value(uint32_t e)
{
    return (e & LPM_TBL24_VALID) ? (e & 0xffffffu) : LPM_NONE;
}

/* Value of the longest prefix holding addr, or LPM_NONE. */
static inline uint32_t lpm_lookup(const struct lpm *l, uint32_t addr)
{
    const struct lpm_lookup_view *v = lpm_view(l);
    uint32_t e = v->tbl24[addr >> 8];

    if (e & LPM_TBL24_EXT)
        e = v->tbl8[(size_t)(e & 0x3fffffffu) * 256 + (addr & 0xff)];
    return lpm_entry_value(e);
}

/* The fast path's form: n lookups with prefetching. */
void lpm_lookup_bulk(const struct lpm *l, const uint32_t *addrs, uint32_t *values, unsigned n);

/* Every prefix: fn(prefix, len, value, arg); non-zero from fn stops and is returned. */
int lpm_foreach(const struct lpm *l, int (*fn)(uint32_t prefix, uint8_t len, uint32_t value, void *arg),
                void *arg);

/* --- ECMP next-hop sets ------------------------------------------------------
 * A registry interning sets of next-hop ids: the same members in any order
 * give the same refcounted id, which is what an LPM entry then stores. */
struct lpm_nhset_table;

int lpm_nhset_create(struct lpm_nhset_table **out);
void lpm_nhset_destroy(struct lpm_nhset_table *t);
int lpm_nhset_get(struct lpm_nhset_table *t, const uint32_t *members, unsigned n, uint32_t *set_id);
void lpm_nhset_put(struct lpm_nhset_table *t, uint32_t set_id);
int lpm_nhset_members(const struct lpm_nhset_table *t, uint32_t set_id, const uint32_t **members, unsigned *n);
/* One member chosen by flow hash: the same hash always picks the same member. */
uint32_t lpm_nhset_pick(const struct lpm_nhset_table *t, uint32_t set_id, uint32_t flow_hash);

#endif
