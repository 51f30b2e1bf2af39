/* nat/nat_state.c: flow-state records, their wire encoding (round trip,
 * every kind of malformed input refused without reading out of bounds),
 * and installing them on a peer (idempotent, conflicts refused). */
#include "nat/nat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S 1000000000ull
#define ZONE 0xabcdef0123456789ull

static rp_be32 ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    return htonl((uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d);
}

static struct nat_tuple tup(uint8_t proto, rp_be32 src, uint16_t sport, rp_be32 dst, uint16_t dport)
{
    return (struct nat_tuple){.zone = ZONE, .src = src, .dst = dst, .sport = htons(sport), .dport = htons(dport),
                              .proto = proto};
}

static struct nat_tables *mk(uint32_t n)
{
    struct nat_config cfg;
    struct nat_tables *t = NULL;

    nat_config_default(&cfg);
    cfg.max_conntrack = n;
    cfg.max_nat = n;
    assert_int_equal(nat_tables_create(&t, &cfg), 0);
    return t;
}


/* Three records as a flow on host A creates them: a conntrack entry, an
 * SNAT binding (TCP), a DNAT binding (ICMP echo). */
static unsigned sample(struct nat_state_rec *r)
{
    r[0] = (struct nat_state_rec){.type = NAT_STATE_CT, .tcp_state = NAT_TCP_SYN,
                                  .tuple = tup(IP_PROTO_TCP, ip(10, 0, 0, 5), 40000, ip(8, 8, 8, 8), 443),
                                  .idle_ms = 5};
    r[1] = (struct nat_state_rec){.type = NAT_STATE_SNAT, .tcp_state = NAT_TCP_ESTABLISHED,
                                  .tuple = tup(IP_PROTO_TCP, ip(10, 0, 0, 5), 40000, ip(8, 8, 8, 8), 443),
                                  .xaddr = ip(198, 51, 100, 2), .xport = htons(1999), .idle_ms = 0};
    r[2] = (struct nat_state_rec){.type = NAT_STATE_DNAT,
                                  .tuple = tup(IP_PROTO_ICMP, ip(203, 0, 113, 7), 9, ip(198, 51, 100, 9), 9),
                                  .xaddr = ip(10, 0, 0, 80), .xport = htons(9), .idle_ms = 1234};
    return 3;
}

static void assert_rec_equal(const struct nat_state_rec *a, const struct nat_state_rec *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->tcp_state, b->tcp_state);
    assert_int_equal(a->tuple.zone, b->tuple.zone);
    assert_int_equal(a->tuple.src, b->tuple.src);
    assert_int_equal(a->tuple.dst, b->tuple.dst);
    assert_int_equal(a->tuple.sport, b->tuple.sport);
    assert_int_equal(a->tuple.dport, b->tuple.dport);
    assert_int_equal(a->tuple.proto, b->tuple.proto);
    assert_int_equal(a->xaddr, b->xaddr);
    assert_int_equal(a->xport, b->xport);
    assert_int_equal(a->idle_ms, b->idle_ms);
}

static size_t encode(const struct nat_state_rec *r, unsigned n, uint8_t *buf, size_t cap)
{
    size_t len = 0;

    assert_int_equal(nat_state_encode(r, n, buf, cap, &len), 0);
    return len;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* --- encoding ---------------------------------------------------------------- */

static void test_state_round_trips_through_the_encoding(void **state)
{
    (void)state;
    struct nat_state_rec in[3], out[3];
    uint8_t buf[NAT_STATE_MAX_LEN(3)];
    unsigned n = sample(in), got = 0;
    size_t len = encode(in, n, buf, sizeof(buf));

    assert_int_equal(len, NAT_STATE_HDR_LEN + NAT_STATE_CT_LEN + 2 * NAT_STATE_NAT_LEN);
    assert_memory_equal(buf, "RPNS", 4);
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), 0);
    assert_int_equal(got, 3);
    for (unsigned i = 0; i < 3; i++)
        assert_rec_equal(&in[i], &out[i]);
    /* An empty batch is a header alone. */
    assert_int_equal(encode(in, 0, buf, sizeof(buf)), NAT_STATE_HDR_LEN);
    assert_int_equal(nat_state_decode(buf, NAT_STATE_HDR_LEN, out, 3, &got), 0);
    assert_int_equal(got, 0);
}

static void test_encoding_is_network_byte_order(void **state)
{
    (void)state;
    struct nat_state_rec r[3];
    uint8_t buf[NAT_STATE_MAX_LEN(3)];

    sample(r);
    encode(r, 1, buf, sizeof(buf));
    /* count 1, total 46, record type 1, length 30, zone big-endian. */
    static const uint8_t hdr[] = {'R', 'P', 'N', 'S', 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 46,
                                  1, 0, 0, 30, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
                                  10, 0, 0, 5, 8, 8, 8, 8, 0x9c, 0x40, 0x01, 0xbb, 6, 1, 0, 0, 0, 5};
    assert_memory_equal(buf, hdr, sizeof(hdr));
}

static void test_encode_refuses_a_small_buffer_and_invalid_records(void **state)
{
    (void)state;
    struct nat_state_rec r[3];
    uint8_t buf[NAT_STATE_MAX_LEN(3)];
    size_t len = 0;

    sample(r);
    assert_int_equal(nat_state_encode(r, 3, buf, NAT_STATE_HDR_LEN + 50, &len), -ENOSPC);
    r[1].xport = 0;
    assert_int_equal(nat_state_encode(r, 3, buf, sizeof(buf), &len), -EINVAL);
}

static void test_decode_refuses_every_truncation(void **state)
{
    (void)state;
    struct nat_state_rec in[3], out[3];
    uint8_t buf[NAT_STATE_MAX_LEN(3)];
    unsigned got;
    size_t len;

    sample(in);
    len = encode(in, 3, buf, sizeof(buf));
    for (size_t cut = 0; cut < len; cut++) {
        /* A copy of exactly 'cut' bytes, so ASan sees any read past it. */
        uint8_t *p = malloc(cut ? cut : 1);

        memcpy(p, buf, cut);
        assert_int_equal(nat_state_decode(p, cut, out, 3, &got), -EBADMSG);
        /* The same, with the header's total length made to agree. */
        if (cut >= NAT_STATE_HDR_LEN) {
            put32(p + 12, (uint32_t)cut);
            assert_int_equal(nat_state_decode(p, cut, out, 3, &got), -EBADMSG);
        }
        free(p);
    }
}

static void test_decode_refuses_bad_magic_and_unknown_major_version(void **state)
{
    (void)state;
    struct nat_state_rec in[3], out[3];
    uint8_t buf[NAT_STATE_MAX_LEN(3)];
    unsigned got;
    size_t len;

    sample(in);
    len = encode(in, 3, buf, sizeof(buf));
    buf[0] = 'X';
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EBADMSG);
    buf[0] = 'R';
    buf[4] = 2;
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EPROTONOSUPPORT);
    buf[4] = 0;
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EPROTONOSUPPORT);
    /* A newer minor version of the same major is read. */
    buf[4] = 1;
    buf[5] = 7;
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), 0);
    assert_int_equal(nat_state_decode(NULL, 0, out, 3, &got), -EBADMSG);
}

static void test_decode_refuses_lying_lengths_and_counts(void **state)
{
    (void)state;
    struct nat_state_rec in[3], out[3];
    uint8_t buf[NAT_STATE_MAX_LEN(3) + 16], ok[NAT_STATE_MAX_LEN(3)];
    unsigned got;
    size_t len;
    const size_t r1 = NAT_STATE_HDR_LEN + NAT_STATE_CT_LEN;   /* second record */

    sample(in);
    len = encode(in, 3, ok, sizeof(ok));
#define FRESH() memcpy(buf, ok, len)
    FRESH();
    put32(buf + 12, (uint32_t)len + 1);   /* total says more than there is */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EBADMSG);
    FRESH();
    put32(buf + 8, 4);                    /* count says more */
    assert_int_equal(nat_state_decode(buf, len, out, 4, &got), -EBADMSG);
    FRESH();
    put32(buf + 8, 2);                    /* count says fewer: trailing record */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EBADMSG);
    FRESH();
    put32(buf + 8, 0xffffffffu);          /* absurd count */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EBADMSG);
    FRESH();
    buf[r1 + 2] = 0x40;                   /* record length past the end */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EBADMSG);
    FRESH();
    buf[r1 + 3] = NAT_STATE_CT_LEN;       /* a binding shorter than a binding */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EBADMSG);
    FRESH();
    buf[r1 + 2] = 0;
    buf[r1 + 3] = 0;                      /* zero length: would never advance */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EBADMSG);
    FRESH();
    assert_int_equal(nat_state_decode(buf, len, out, 2, &got), -ENOSPC);
#undef FRESH
}

static void test_decode_skips_fields_a_newer_minor_version_appended(void **state)
{
    (void)state;
    struct nat_state_rec in[3], out[3];
    uint8_t buf[NAT_STATE_MAX_LEN(1) + 4];
    unsigned got;
    size_t len;

    sample(in);
    len = encode(&in[1], 1, buf, sizeof(buf));
    /* The binding record grows by 4 bytes of something new. */
    memset(buf + len, 0xee, 4);
    buf[NAT_STATE_HDR_LEN + 3] = NAT_STATE_NAT_LEN + 4;
    buf[5] = 1;
    put32(buf + 12, (uint32_t)len + 4);
    assert_int_equal(nat_state_decode(buf, len + 4, out, 3, &got), 0);
    assert_int_equal(got, 1);
    assert_rec_equal(&in[1], &out[0]);
}

static void test_decode_refuses_bad_kind_protocol_and_tcp_state(void **state)
{
    (void)state;
    struct nat_state_rec in[3], out[3];
    uint8_t buf[NAT_STATE_MAX_LEN(3)], ok[NAT_STATE_MAX_LEN(3)];
    unsigned got;
    size_t len;
    const size_t r0 = NAT_STATE_HDR_LEN, r2 = NAT_STATE_HDR_LEN + NAT_STATE_CT_LEN + NAT_STATE_NAT_LEN;

    sample(in);
    len = encode(in, 3, ok, sizeof(ok));
    memcpy(buf, ok, len);
    buf[r0] = 9;                 /* unknown record type */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EINVAL);
    memcpy(buf, ok, len);
    buf[r0 + 24] = 0;            /* protocol 0 */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EINVAL);
    memcpy(buf, ok, len);
    buf[r0 + 25] = 4;            /* unknown TCP state */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EINVAL);
    memcpy(buf, ok, len);
    buf[r2 + 25] = NAT_TCP_SYN;  /* a TCP state on an ICMP binding */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EINVAL);
    memcpy(buf, ok, len);
    buf[r2 + 34] = buf[r2 + 35] = 0;   /* a binding to port 0 */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EINVAL);
    memcpy(buf, ok, len);
    buf[r2 + 24] = 47;           /* GRE has no ports, yet ports are set */
    assert_int_equal(nat_state_decode(buf, len, out, 3, &got), -EINVAL);
}

/* --- installing on a peer ------------------------------------------------------- */

static void test_state_pushed_to_a_peer_lets_it_translate_the_reply(void **state)
{
    (void)state;
    struct nat_tables *a = mk(64), *b = mk(64);
    struct nat_tuple o = tup(IP_PROTO_UDP, ip(10, 0, 0, 5), 5000, ip(8, 8, 8, 8), 53);
    struct nat_binding bind, r;
    struct nat_state_ref ct;
    struct nat_state_rec recs[2], got_recs[2];
    uint8_t buf[NAT_STATE_MAX_LEN(2)];
    unsigned got;
    size_t len;

    assert_int_equal(nat_ct_commit(a, &o, 0, 10 * S, &ct), 0);
    struct nat_target tg = {.addr_from = ip(198, 51, 100, 2), .addr_to = ip(198, 51, 100, 2), .port_from = 1024,
                            .port_to = 65535};
    assert_int_equal(nat_allocate(a, NAT_KIND_SNAT, &o, &tg, 1, 10 * S, &bind), 0);
    assert_int_equal(nat_state_export(a, &ct, 10 * S, &recs[0]), 0);
    assert_int_equal(nat_state_export(a, &bind.ref, 10 * S, &recs[1]), 0);
    assert_int_equal(nat_state_encode(recs, 2, buf, sizeof(buf), &len), 0);
    assert_int_equal(nat_state_decode(buf, len, got_recs, 2, &got), 0);
    assert_int_equal(nat_state_install(b, got_recs, got, 1000 * S), 2);

    /* Host B sees the reply as a return flow and restores the inside address. */
    struct nat_tuple reply = {.zone = ZONE, .src = o.dst, .dst = bind.addr, .sport = o.dport, .dport = bind.port,
                              .proto = IP_PROTO_UDP};
    struct nat_tuple reply_in = nat_tuple_reverse(&o);
    assert_true(nat_ct_is_return(b, &reply_in, 1000 * S));
    assert_int_equal(nat_reverse_lookup(b, NAT_KIND_SNAT, &reply, 1000 * S, &r), 0);
    assert_int_equal(r.addr, o.src);
    assert_int_equal(r.port, o.sport);
    nat_tables_destroy(a);
    nat_tables_destroy(b);
}

static void test_install_is_idempotent(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64);
    struct nat_state_rec r[3];
    struct nat_stats st;
    unsigned n = sample(r);

    assert_int_equal(nat_state_install(t, r, n, 1000 * S), 3);
    assert_int_equal(nat_state_install(t, r, n, 1001 * S), 3);
    nat_get_stats(t, &st);
    assert_int_equal(st.installed, 3);
    assert_int_equal(st.ct_entries, 1);
    assert_int_equal(st.nat_entries, 2);
    assert_int_equal(st.install_conflicts, 0);
    nat_tables_destroy(t);
}

static void test_install_refuses_a_conflicting_binding_and_counts_it(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64);
    struct nat_state_rec r[3], c;
    struct nat_stats st;
    struct nat_binding b;

    sample(r);
    assert_int_equal(nat_state_install(t, &r[1], 1, 1000 * S), 1);
    /* Same original tuple, another translation. */
    c = r[1];
    c.xport = htons(2999);
    assert_int_equal(nat_state_install(t, &c, 1, 1000 * S), 0);
    /* Another original tuple, the same reply tuple (port held towards this remote). */
    c = r[1];
    c.tuple.src = ip(10, 0, 0, 6);
    assert_int_equal(nat_state_install(t, &c, 1, 1000 * S), 0);
    nat_get_stats(t, &st);
    assert_int_equal(st.install_conflicts, 2);
    assert_int_equal(st.nat_entries, 1);
    /* The original binding is untouched. */
    assert_int_equal(nat_lookup(t, NAT_KIND_SNAT, &r[1].tuple, 1000 * S, &b), 0);
    assert_int_equal(ntohs(b.port), 1999);
    nat_tables_destroy(t);
}

static void test_installed_binding_keeps_its_idle_time_and_expires_on_time(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64);
    struct nat_state_rec r[3];
    struct nat_binding b;

    sample(r);
    r[1].tuple.proto = IP_PROTO_UDP;
    r[1].tcp_state = NAT_TCP_NONE;
    r[1].idle_ms = 50000;   /* 50 s idle at the sender, UDP timeout 60 s */
    assert_int_equal(nat_state_install(t, &r[1], 1, 1000 * S), 1);
    assert_int_equal(nat_lookup(t, NAT_KIND_SNAT, &r[1].tuple, 1011 * S, &b), -ENOENT);
    /* Already past its timeout: not installed at all. */
    r[1].idle_ms = 61000;
    assert_int_equal(nat_state_install(t, &r[1], 1, 2000 * S), 0);
    nat_tables_destroy(t);
}

static void test_peer_bindings_keep_local_allocation_off_their_reply_tuples(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64);
    struct nat_target one = {.addr_from = ip(198, 51, 100, 2), .addr_to = ip(198, 51, 100, 2), .port_from = 1999,
                             .port_to = 1999};
    struct nat_state_rec r[3];
    struct nat_binding b;
    struct nat_tuple o = tup(IP_PROTO_TCP, ip(10, 0, 0, 77), 1234, ip(8, 8, 8, 8), 443);

    sample(r);
    assert_int_equal(nat_state_install(t, &r[1], 1, 1000 * S), 1);
    /* The peer's binding holds 198.51.100.2:1999 towards 8.8.8.8:443. */
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &one, 1, 1000 * S, &b), -EADDRNOTAVAIL);
    o.dport = htons(80);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &one, 1, 1000 * S, &b), 0);
    nat_tables_destroy(t);
}

static void test_export_of_a_stale_ref_is_estale(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64);
    struct nat_tuple o = tup(IP_PROTO_UDP, ip(10, 0, 0, 5), 5000, ip(8, 8, 8, 8), 53);
    struct nat_state_ref ref;
    struct nat_state_rec rec;

    assert_int_equal(nat_ct_commit(t, &o, 0, 0, &ref), 0);
    assert_int_equal(nat_state_export(t, &ref, 5 * S, &rec), 0);
    assert_int_equal(rec.idle_ms, 5000);
    while (nat_expire(t, 100 * S, 1000))
        ;
    assert_int_equal(nat_state_export(t, &ref, 100 * S, &rec), -ESTALE);
    nat_tables_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_round_trips_through_the_encoding),
        cmocka_unit_test(test_encoding_is_network_byte_order),
        cmocka_unit_test(test_encode_refuses_a_small_buffer_and_invalid_records),
        cmocka_unit_test(test_decode_refuses_every_truncation),
        cmocka_unit_test(test_decode_refuses_bad_magic_and_unknown_major_version),
        cmocka_unit_test(test_decode_refuses_lying_lengths_and_counts),
        cmocka_unit_test(test_decode_skips_fields_a_newer_minor_version_appended),
        cmocka_unit_test(test_decode_refuses_bad_kind_protocol_and_tcp_state),
        cmocka_unit_test(test_state_pushed_to_a_peer_lets_it_translate_the_reply),
        cmocka_unit_test(test_install_is_idempotent),
        cmocka_unit_test(test_install_refuses_a_conflicting_binding_and_counts_it),
        cmocka_unit_test(test_installed_binding_keeps_its_idle_time_and_expires_on_time),
        cmocka_unit_test(test_peer_bindings_keep_local_allocation_off_their_reply_tuples),
        cmocka_unit_test(test_export_of_a_stale_ref_is_estale),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
