/*
 * Fuzz the flow-state decoder: any bytes as a message from a peer host.
 * What decodes must re-encode to a message that decodes to the same
 * records, and must install into a small table without breaking it (the
 * table is kept across inputs, with a clock that moves and expiry that
 * runs, so installs meet old state, conflicts and full pools).
 */
#include "nat/nat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECS 64

static struct nat_tables *tables;
static uint64_t now_ns = 1000000000ull;

static bool rec_eq(const struct nat_state_rec *a, const struct nat_state_rec *b)
{
    return a->type == b->type && a->tcp_state == b->tcp_state && a->tuple.zone == b->tuple.zone &&
           a->tuple.src == b->tuple.src && a->tuple.dst == b->tuple.dst && a->tuple.sport == b->tuple.sport &&
           a->tuple.dport == b->tuple.dport && a->tuple.proto == b->tuple.proto && a->xaddr == b->xaddr &&
           a->xport == b->xport && a->idle_ms == b->idle_ms;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct nat_state_rec recs[MAX_RECS], again[MAX_RECS];
    static uint8_t buf[NAT_STATE_MAX_LEN(MAX_RECS)];
    unsigned n = 0, m = 0, present;
    size_t len = 0;
    struct nat_stats st;
    int rc;

    if (!tables) {
        struct nat_config cfg;

        nat_config_default(&cfg);
        cfg.max_conntrack = 256;
        cfg.max_nat = 256;
        cfg.max_pools = 4;
        if (nat_tables_create(&tables, &cfg) < 0)
            abort();
    }
    rc = nat_state_decode(data, size, recs, MAX_RECS, &n);
    if (rc != 0) {
        if (rc != -EBADMSG && rc != -EPROTONOSUPPORT && rc != -EINVAL && rc != -ENOSPC)
            abort();
        return 0;
    }
    if (n > MAX_RECS)
        abort();
    /* Decoded records are valid records: they encode, and come back equal. */
    if (nat_state_encode(recs, n, buf, sizeof(buf), &len) != 0 || len > size)
        abort();
    if (nat_state_decode(buf, len, again, MAX_RECS, &m) != 0 || m != n)
        abort();
    for (unsigned i = 0; i < n; i++)
        if (!rec_eq(&recs[i], &again[i]))
            abort();

    present = nat_state_install(tables, recs, n, now_ns);
    if (present > n)
        abort();
    /* Installing the same batch again changes nothing that was present. */
    if (nat_state_install(tables, recs, n, now_ns) < present)
        abort();
    for (unsigned i = 0; i < n; i++) {
        struct nat_binding b;
        enum nat_kind kind = recs[i].type == NAT_STATE_SNAT ? NAT_KIND_SNAT : NAT_KIND_DNAT;

        if (recs[i].type == NAT_STATE_CT)
            continue;
        if (nat_lookup(tables, kind, &recs[i].tuple, now_ns, &b) == 0 && !nat_ref_valid(tables, &b.ref))
            abort();
    }
    nat_get_stats(tables, &st);
    if (st.ct_entries > 256 || st.nat_entries > 256)
        abort();
    now_ns += 7000000000ull;   /* 7 s per input: UDP and ICMP state ages out over a few inputs */
    nat_expire(tables, now_ns, 128);
    return 0;
}
