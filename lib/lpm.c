/*
 * lib/lpm.c: DIR-24-8 with per-entry prefix depth (see lpm.h).
 */
#include "lib/lpm.h"
#include "lib/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define TBL24_SIZE (1u << 24)
#define GROUP 256
#define MAX_GROUPS (1u << 22)
#define DEPTH_SHIFT 24
#define VALUE_MASK 0xffffffu
#define EXT_INDEX_MASK 0x3fffffffu

struct lpm_rule {
    uint32_t prefix;
    uint32_t value;
    uint8_t len;
    bool used;
};

struct lpm {
    struct lpm_lookup_view v;      /* first: lpm_lookup casts to it */
    uint32_t n_groups, cap_groups; /* tbl8 groups in use / allocated */
    uint32_t *free_groups;         /* stack of released group indexes */
    uint32_t n_free_groups;
    struct htab *rules_by_len[33]; /* prefix -> index into rules */
    struct lpm_rule *rules;
    uint32_t n_rules, cap_rules;
    uint32_t *free_rules;
    uint32_t n_free_rules, count;
};

static inline uint32_t mask_of(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

static inline uint32_t make_entry(uint32_t value, uint8_t depth)
{
    return LPM_TBL24_VALID | (uint32_t)depth << DEPTH_SHIFT | value;
}

static inline uint8_t entry_depth(uint32_t e)
{
    return (uint8_t)((e >> DEPTH_SHIFT) & 0x3f);
}

static inline uint64_t rule_hash(uint32_t prefix)
{
    /* Prefixes come from BGP peers: keyed, so a peer cannot pick collisions. */
    return rp_siphash(&prefix, sizeof(prefix));
}

int lpm_create(struct lpm **out)
{
    struct lpm *l = calloc(1, sizeof(*l));
    void *t24;

    if (!l)
        return -ENOMEM;
    /* mmap gives zeroed (= no route) memory; huge pages save a TLB miss per
     * random lookup in a 64 MiB table. */
    t24 = mmap(NULL, TBL24_SIZE * sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t24 == MAP_FAILED) {
        free(l);
        return -ENOMEM;
    }
    madvise(t24, TBL24_SIZE * sizeof(uint32_t), MADV_HUGEPAGE);
    l->v.tbl24 = t24;
    *out = l;
    return 0;
}

void lpm_destroy(struct lpm *l)
{
    if (!l)
        return;
    munmap(l->v.tbl24, TBL24_SIZE * sizeof(uint32_t));
    free(l->v.tbl8);
    free(l->free_groups);
    for (int i = 0; i <= 32; i++)
        htab_destroy(l->rules_by_len[i]);
    free(l->rules);
    free(l->free_rules);
    free(l);
}

static struct lpm_rule *rule_find(const struct lpm *l, uint32_t prefix, uint8_t len)
{
    const struct htab *t = l->rules_by_len[len];
    struct htab_iter it;

    if (!t)
        return NULL;
    for (uint32_t i = htab_find_first(t, rule_hash(prefix), &it); i != HTAB_NONE; i = htab_find_next(&it))
        if (l->rules[i].prefix == prefix)
            return &l->rules[i];
    return NULL;
}

static int rule_add(struct lpm *l, uint32_t prefix, uint8_t len, uint32_t value)
{
    uint32_t idx;
    int rc;

    if (!l->rules_by_len[len] && (rc = htab_create(&l->rules_by_len[len], 64)) < 0)
        return rc;
    if (l->n_free_rules) {
        idx = l->free_rules[--l->n_free_rules];
    } else {
        if (l->n_rules == l->cap_rules) {
            uint32_t cap = l->cap_rules ? l->cap_rules * 2 : 1024;
            struct lpm_rule *r = realloc(l->rules, cap * sizeof(*r));
            uint32_t *f = realloc(l->free_rules, cap * sizeof(*f));
            if (r)
                l->rules = r;
            if (f)
                l->free_rules = f;
            if (!r || !f)
                return -ENOMEM;
            l->cap_rules = cap;
        }
        idx = l->n_rules++;
    }
    rc = htab_insert(l->rules_by_len[len], rule_hash(prefix), idx);
    if (rc < 0) {
        l->free_rules[l->n_free_rules++] = idx;
        return rc;
    }
    l->rules[idx] = (struct lpm_rule){prefix, value, len, true};
    l->count++;
    return 0;
}

static void rule_del(struct lpm *l, struct lpm_rule *r)
{
    uint32_t idx = (uint32_t)(r - l->rules);

    htab_remove(l->rules_by_len[r->len], rule_hash(r->prefix), idx);
    r->used = false;
    l->free_rules[l->n_free_rules++] = idx;
    l->count--;
}

static int group_alloc(struct lpm *l, uint32_t fill, uint32_t *out)
{
    uint32_t g;

    if (l->n_free_groups) {
        g = l->free_groups[--l->n_free_groups];
    } else {
        if (l->n_groups == l->cap_groups) {
            uint32_t cap = l->cap_groups ? l->cap_groups * 2 : 256;
            uint32_t *t8, *fg;
            if (cap > MAX_GROUPS)
                return -ENOSPC;
            t8 = realloc(l->v.tbl8, (size_t)cap * GROUP * sizeof(uint32_t));
            if (!t8)
                return -ENOMEM;
            l->v.tbl8 = t8;
            fg = realloc(l->free_groups, cap * sizeof(uint32_t));
            if (!fg)
                return -ENOMEM;
            l->free_groups = fg;
            l->cap_groups = cap;
        }
        g = l->n_groups++;
    }
    for (int i = 0; i < GROUP; i++)
        l->v.tbl8[(size_t)g * GROUP + i] = fill;
    *out = g;
    return 0;
}

/* A group whose 256 entries all came from one prefix of length <= 24 folds
 * back into its first-level entry. */
static void group_try_collapse(struct lpm *l, uint32_t idx24)
{
    uint32_t e = l->v.tbl24[idx24], g, first;
    const uint32_t *grp;

    if (!(e & LPM_TBL24_EXT))
        return;
    g = e & EXT_INDEX_MASK;
    grp = &l->v.tbl8[(size_t)g * GROUP];
    first = grp[0];
    if ((first & LPM_TBL24_VALID) && entry_depth(first) > 24)
        return;
    for (int i = 1; i < GROUP; i++)
        if (grp[i] != first)
            return;
    l->v.tbl24[idx24] = first;
    l->free_groups[l->n_free_groups++] = g;
}

/* Write 'entry' (from a prefix of length 'len') over every entry in the
 * range whose current prefix is not longer. */
static void fill_range24(struct lpm *l, uint32_t from, uint32_t count, uint32_t entry, uint8_t len)
{
    for (uint32_t i = from; i < from + count; i++) {
        uint32_t e = l->v.tbl24[i];

        if (!(e & LPM_TBL24_EXT)) {
            if (!(e & LPM_TBL24_VALID) || entry_depth(e) <= len)
                l->v.tbl24[i] = entry;
            continue;
        }
        uint32_t *grp = &l->v.tbl8[(size_t)(e & EXT_INDEX_MASK) * GROUP];
        for (int j = 0; j < GROUP; j++)
            if (!(grp[j] & LPM_TBL24_VALID) || entry_depth(grp[j]) <= len)
                grp[j] = entry;
        group_try_collapse(l, i);
    }
}

int lpm_add(struct lpm *l, uint32_t prefix, uint8_t len, uint32_t value)
{
    struct lpm_rule *r;
    uint32_t entry;
    int rc;

    if (len > 32 || (prefix & ~mask_of(len)) || value > LPM_MAX_VALUE)
        return -EINVAL;
    r = rule_find(l, prefix, len);
    if (r) {
        r->value = value;
    } else if ((rc = rule_add(l, prefix, len, value)) < 0) {
        return rc;
    }
    entry = make_entry(value, len);
    if (len <= 24) {
        fill_range24(l, prefix >> 8, 1u << (24 - len), entry, len);
        return 0;
    }
    uint32_t idx24 = prefix >> 8, e = l->v.tbl24[idx24], g;
    if (!(e & LPM_TBL24_EXT)) {
        rc = group_alloc(l, e, &g);
        if (rc < 0) {
            if (!r)
                rule_del(l, rule_find(l, prefix, len));
            return rc;
        }
        l->v.tbl24[idx24] = LPM_TBL24_VALID | LPM_TBL24_EXT | g;
    } else {
        g = e & EXT_INDEX_MASK;
    }
    uint32_t *grp = &l->v.tbl8[(size_t)g * GROUP];
    for (uint32_t j = prefix & 0xff; j < (prefix & 0xff) + (1u << (32 - len)); j++)
        if (!(grp[j] & LPM_TBL24_VALID) || entry_depth(grp[j]) <= len)
            grp[j] = entry;
    return 0;
}

int lpm_del(struct lpm *l, uint32_t prefix, uint8_t len)
{
    struct lpm_rule *r, *parent = NULL;
    uint32_t repl = 0;

    if (len > 32 || (prefix & ~mask_of(len)))
        return -EINVAL;
    r = rule_find(l, prefix, len);
    if (!r)
        return -ENOENT;
    rule_del(l, r);
    for (int pl = len - 1; pl >= 0 && !parent; pl--)
        parent = rule_find(l, prefix & mask_of((uint8_t)pl), (uint8_t)pl);
    if (parent)
        repl = make_entry(parent->value, parent->len);
    if (len <= 24) {
        for (uint32_t i = prefix >> 8; i < (prefix >> 8) + (1u << (24 - len)); i++) {
            uint32_t e = l->v.tbl24[i];
            if (!(e & LPM_TBL24_EXT)) {
                if ((e & LPM_TBL24_VALID) && entry_depth(e) == len)
                    l->v.tbl24[i] = repl;
                continue;
            }
            uint32_t *grp = &l->v.tbl8[(size_t)(e & EXT_INDEX_MASK) * GROUP];
            for (int j = 0; j < GROUP; j++)
                if ((grp[j] & LPM_TBL24_VALID) && entry_depth(grp[j]) == len)
                    grp[j] = repl;
            group_try_collapse(l, i);
        }
        return 0;
    }
    uint32_t idx24 = prefix >> 8, e = l->v.tbl24[idx24];
    if (e & LPM_TBL24_EXT) {
        uint32_t *grp = &l->v.tbl8[(size_t)(e & EXT_INDEX_MASK) * GROUP];
        for (uint32_t j = prefix & 0xff; j < (prefix & 0xff) + (1u << (32 - len)); j++)
            if ((grp[j] & LPM_TBL24_VALID) && entry_depth(grp[j]) == len)
                grp[j] = repl;
        group_try_collapse(l, idx24);
    }
    return 0;
}

int lpm_get(const struct lpm *l, uint32_t prefix, uint8_t len, uint32_t *value)
{
    const struct lpm_rule *r;

    if (len > 32 || (prefix & ~mask_of(len)))
        return -EINVAL;
    r = rule_find(l, prefix, len);
    if (!r)
        return -ENOENT;
    *value = r->value;
    return 0;
}

uint32_t lpm_count(const struct lpm *l)
{
    return l->count;
}

size_t lpm_memory(const struct lpm *l)
{
    size_t m = sizeof(*l) + (size_t)TBL24_SIZE * sizeof(uint32_t) +
               (size_t)l->cap_groups * (GROUP + 1) * sizeof(uint32_t) +
               (size_t)l->cap_rules * (sizeof(struct lpm_rule) + sizeof(uint32_t));

    for (int i = 0; i <= 32; i++)
        if (l->rules_by_len[i])
            m += htab_memory(l->rules_by_len[i]);
    return m;
}

#define BULK_AHEAD 8

void lpm_lookup_bulk(const struct lpm *l, const uint32_t *addrs, uint32_t *values, unsigned n)
{
    const uint32_t *t24 = l->v.tbl24;
    uint32_t e24[64];
    unsigned i, done = 0;

    /* In chunks of 64: first-level reads with prefetch a few ahead, then the
     * second-level reads, prefetched the same way. */
    while (done < n) {
        unsigned m = n - done < 64 ? n - done : 64;
        const uint32_t *a = addrs + done;

        for (i = 0; i < m && i < BULK_AHEAD; i++)
            __builtin_prefetch(&t24[a[i] >> 8]);
        for (i = 0; i < m; i++) {
            if (i + BULK_AHEAD < m)
                __builtin_prefetch(&t24[a[i + BULK_AHEAD] >> 8]);
            e24[i] = t24[a[i] >> 8];
            if (e24[i] & LPM_TBL24_EXT)
                __builtin_prefetch(&l->v.tbl8[(size_t)(e24[i] & EXT_INDEX_MASK) * GROUP + (a[i] & 0xff)]);
        }
        for (i = 0; i < m; i++) {
            uint32_t e = e24[i];
            if (e & LPM_TBL24_EXT)
                e = l->v.tbl8[(size_t)(e & EXT_INDEX_MASK) * GROUP + (a[i] & 0xff)];
            values[done + i] = lpm_entry_value(e);
        }
        done += m;
    }
}

int lpm_foreach(const struct lpm *l, int (*fn)(uint32_t prefix, uint8_t len, uint32_t value, void *arg), void *arg)
{
    for (uint32_t i = 0; i < l->n_rules; i++) {
        if (!l->rules[i].used)
            continue;
        int rc = fn(l->rules[i].prefix, l->rules[i].len, l->rules[i].value, arg);
        if (rc)
            return rc;
    }
    return 0;
}
