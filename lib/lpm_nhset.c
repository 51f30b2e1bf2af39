/*
 * lib/lpm_nhset.c: interned ECMP next-hop sets (see lpm.h).
 */
#include "lib/hash.h"
#include "lib/lpm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct nhset {
    uint32_t *members;   /* sorted */
    unsigned n;
    uint32_t refs;       /* 0 = free slot */
    uint64_t hash;
};

struct lpm_nhset_table {
    struct nhset *sets;
    uint32_t n_sets, cap_sets;
    uint32_t *free_ids;
    uint32_t n_free;
    struct htab *index;  /* hash of the sorted members -> set id */
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
    for (uint32_t i = 0; i < t->n_sets; i++)
        free(t->sets[i].members);
    free(t->sets);
    free(t->free_ids);
    htab_destroy(t->index);
    free(t);
}

int lpm_nhset_get(struct lpm_nhset_table *t, const uint32_t *members, unsigned n, uint32_t *set_id)
{
    uint32_t *sorted, id;
    struct htab_iter it;
    uint64_t h;

    if (n == 0 || n > 1024 || !members || !set_id)
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
    if (t->n_free) {
        id = t->free_ids[--t->n_free];
    } else {
        if (t->n_sets == t->cap_sets) {
            uint32_t cap = t->cap_sets ? t->cap_sets * 2 : 64;
            struct nhset *ns = realloc(t->sets, cap * sizeof(*ns));
            uint32_t *nf = realloc(t->free_ids, cap * sizeof(*nf));
            if (ns)
                t->sets = ns;
            if (nf)
                t->free_ids = nf;
            if (!ns || !nf || cap > LPM_MAX_VALUE) {
                free(sorted);
                return -ENOMEM;
            }
            t->cap_sets = cap;
        }
        id = t->n_sets++;
    }
    if (htab_insert(t->index, h, id) < 0) {
        t->free_ids[t->n_free++] = id;
        free(sorted);
        return -ENOMEM;
    }
    t->sets[id] = (struct nhset){sorted, n, 1, h};
    *set_id = id;
    return 0;
}

void lpm_nhset_put(struct lpm_nhset_table *t, uint32_t set_id)
{
    struct nhset *s;

    if (set_id >= t->n_sets || !t->sets[set_id].refs)
        return;
    s = &t->sets[set_id];
    if (--s->refs)
        return;
    htab_remove(t->index, s->hash, set_id);
    free(s->members);
    s->members = NULL;
    s->n = 0;
    t->free_ids[t->n_free++] = set_id;
}

int lpm_nhset_members(const struct lpm_nhset_table *t, uint32_t set_id, const uint32_t **members, unsigned *n)
{
    if (set_id >= t->n_sets || !t->sets[set_id].refs)
        return -ENOENT;
    *members = t->sets[set_id].members;
    *n = t->sets[set_id].n;
    return 0;
}

uint32_t lpm_nhset_pick(const struct lpm_nhset_table *t, uint32_t set_id, uint32_t flow_hash)
{
    const struct nhset *s;

    if (set_id >= t->n_sets || !t->sets[set_id].refs)
        return LPM_NONE;
    s = &t->sets[set_id];
    /* Multiply-shift maps the hash onto [0, n) without a division. */
    return s->members[((uint64_t)flow_hash * s->n) >> 32];
}
