/*
 * lib/lpm_nhset.c: interned ECMP next-hop sets (see lpm.h).
 *
 * Sets are kept sorted, so "the same members in any order" is a memcmp, and
 * indexed by a keyed hash of the sorted members: next-hop lists come from
 * BGP peers, who must not be able to pick collisions.
 */
#include "lib/hash.h"
#include "lib/lpm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct nhset {
    uint32_t *members;   /* sorted; NULL for a free id */
    unsigned n;
    uint32_t refs;
    uint64_t hash;
};

struct lpm_nhset_table {
    struct nhset *sets;
    uint32_t n_ids, cap_ids;   /* ids handed out so far / allocated */
    uint32_t *free_ids;
    uint32_t n_free, live;
    struct htab *index;        /* hash of the sorted members -> id */
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

int lpm_nhset_create(struct lpm_nhset_table **out)
{
    struct lpm_nhset_table *t = calloc(1, sizeof(*t));

    if (!t)
        return -ENOMEM;
    if (htab_create(&t->index, 64) < 0) {
        free(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

void lpm_nhset_destroy(struct lpm_nhset_table *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->n_ids; i++)
        free(t->sets[i].members);
    free(t->sets);
    free(t->free_ids);
    htab_destroy(t->index);
    free(t);
}

static int id_alloc(struct lpm_nhset_table *t, uint32_t *id)
{
    if (t->n_free) {
        *id = t->free_ids[--t->n_free];
        return 0;
    }
    if (t->n_ids == t->cap_ids) {
        uint32_t cap = t->cap_ids ? t->cap_ids * 2 : 64;
        struct nhset *ns;
        uint32_t *nf;

        if (cap - 1 > LPM_MAX_VALUE)
            return -ENOMEM;
        ns = realloc(t->sets, cap * sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        t->sets = ns;
        nf = realloc(t->free_ids, cap * sizeof(*nf));
        if (!nf)
            return -ENOMEM;
        t->free_ids = nf;
        t->cap_ids = cap;
    }
    *id = t->n_ids++;
    t->sets[*id] = (struct nhset){0};
    return 0;
}

int lpm_nhset_get(struct lpm_nhset_table *t, const uint32_t *members, unsigned n, uint32_t *set_id)
{
    uint32_t *sorted, id;
    struct htab_iter it;
    uint64_t h;
    int rc;

    if (n == 0 || n > LPM_NHSET_MAX_MEMBERS || !members)
        return -EINVAL;
    sorted = malloc(n * sizeof(*sorted));
    if (!sorted)
        return -ENOMEM;
    memcpy(sorted, members, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_u32);
    h = rp_siphash(sorted, n * sizeof(*sorted));
    for (id = htab_find_first(t->index, h, &it); id != HTAB_NONE; id = htab_find_next(&it)) {
        struct nhset *s = &t->sets[id];

        if (s->n == n && !memcmp(s->members, sorted, n * sizeof(*sorted))) {
            s->refs++;
            free(sorted);
            *set_id = id;
            return 0;
        }
    }
    rc = id_alloc(t, &id);
    if (rc < 0)
        goto fail;
    rc = htab_insert(t->index, h, id);
    if (rc < 0) {
        t->free_ids[t->n_free++] = id;
        rc = -ENOMEM;
        goto fail;
    }
    t->sets[id] = (struct nhset){sorted, n, 1, h};
    t->live++;
    *set_id = id;
    return 0;

fail:
    free(sorted);
    return rc;
}

void lpm_nhset_put(struct lpm_nhset_table *t, uint32_t set_id)
{
    struct nhset *s;

    RP_ASSERT(set_id < t->n_ids && t->sets[set_id].refs);
    s = &t->sets[set_id];
    if (--s->refs)
        return;
    htab_remove(t->index, s->hash, set_id);
    free(s->members);
    *s = (struct nhset){0};
    t->free_ids[t->n_free++] = set_id;
    t->live--;
}

int lpm_nhset_members(const struct lpm_nhset_table *t, uint32_t set_id, const uint32_t **members, unsigned *n)
{
    if (set_id >= t->n_ids || !t->sets[set_id].refs)
        return -ENOENT;
    *members = t->sets[set_id].members;
    *n = t->sets[set_id].n;
    return 0;
}

uint32_t lpm_nhset_count(const struct lpm_nhset_table *t)
{
    return t->live;
}

uint32_t lpm_nhset_pick(const struct lpm_nhset_table *t, uint32_t set_id, uint32_t flow_hash)
{
    const struct nhset *s;
    uint32_t h = flow_hash;

    if (set_id >= t->n_ids || !t->sets[set_id].refs)
        return LPM_NONE;
    s = &t->sets[set_id];
    /* Mix (murmur3's finalizer), so a hash with weak high bits still
     * spreads, then multiply-shift onto [0, n) without a division. */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return s->members[((uint64_t)h * s->n) >> 32];
}
