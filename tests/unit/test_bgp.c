/*
 * bgp/: config rendering and refusals, BIRD reply and `show` parsing
 * (fixtures captured from BIRD 2.0.12), the control-socket client, the
 * supervisor's state machine with stand-in children, and, when root and
 * /usr/sbin/bird are there, a real pair of BIRDs in two network namespaces.
 */
#include "bgp/bgp.h"
#include "lib/timer.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include "tests/unit/test_shell.h"

/* BIRD 2.0.12: est2.raw */
static const char FIX_ESTABLISHED[] =
    "2002-Name       Proto      Table      State  Since         Info\n"
    "1002-up1        BGP        ---        up     2026-12-01 23:27:34  Established   \n"
    "1006-  BGP state:          Established\n"
    "     Neighbor address: 10.77.0.2\n"
    "     Neighbor AS:      65001\n"
    "     Local AS:         65000\n"
    "     Neighbor ID:      10.77.0.2\n"
    "     Local capabilities\n"
    "       Multiprotocol\n"
    "         AF announced: ipv4\n"
    "       Route refresh\n"
    "       Graceful restart\n"
    "       4-octet AS numbers\n"
    "       Enhanced refresh\n"
    "       Long-lived graceful restart\n"
    "     Neighbor capabilities\n"
    "       Multiprotocol\n"
    "         AF announced: ipv4\n"
    "       Route refresh\n"
    "       Graceful restart\n"
    "       4-octet AS numbers\n"
    "       Enhanced refresh\n"
    "       Long-lived graceful restart\n"
    "     Session:          external AS4\n"
    "     Source address:   10.77.0.1\n"
    "     Hold timer:       6.768/9\n"
    "     Keepalive timer:  2.468/3\n"
    "   Channel ipv4\n"
    "     State:          UP\n"
    "     Table:          master4\n"
    "     Preference:     100\n"
    "     Input filter:   ACCEPT\n"
    "     Output filter:  (unnamed)\n"
    "     Routes:         1 imported, 1 exported, 1 preferred\n"
    "     Route change stats:     received   rejected   filtered    ignored   accepted\n"
    "       Import updates:              1          0          0          0          1\n"
    "       Import withdraws:            0          0        ---          0          0\n"
    "       Export updates:              3          1          0        ---          2\n"
    "       Export withdraws:            1        ---        ---        ---          1\n"
    "     BGP Next hop:   10.77.0.1\n"
    " \n"
    "0000 \n";

/* BIRD 2.0.12: after_disable.raw */
static const char FIX_ACTIVE[] =
    "2002-Name       Proto      Table      State  Since         Info\n"
    "1002-up1        BGP        ---        start  2026-12-01 23:27:08  Active        Received: Administrative shutdown\n"
    "1006-  BGP state:          Active\n"
    "     Neighbor address: 10.77.0.2\n"
    "     Neighbor AS:      65001\n"
    "     Local AS:         65000\n"
    "     Connect delay:    2.115/5\n"
    "     Last error:       Received: Administrative shutdown\n"
    "   Channel ipv4\n"
    "     State:          DOWN\n"
    "     Table:          master4\n"
    "     Preference:     100\n"
    "     Input filter:   ACCEPT\n"
    "     Output filter:  (unnamed)\n"
    " \n"
    "0000 \n";

/* BIRD 2.0.12: later.raw */
static const char FIX_CONNECT[] =
    "2002-Name       Proto      Table      State  Since         Info\n"
    "1002-up1        BGP        ---        start  2026-12-01 23:27:08  Connect       Received: Administrative shutdown\n"
    "1006-  BGP state:          Connect\n"
    "     Neighbor address: 10.77.0.2\n"
    "     Neighbor AS:      65001\n"
    "     Local AS:         65000\n"
    "     Last error:       Received: Administrative shutdown\n"
    "   Channel ipv4\n"
    "     State:          DOWN\n"
    "     Table:          master4\n"
    "     Preference:     100\n"
    "     Input filter:   ACCEPT\n"
    "     Output filter:  (unnamed)\n"
    " \n"
    "0000 \n";

/* BIRD 2.0.12: disabled.raw */
static const char FIX_DISABLED[] =
    "2002-Name       Proto      Table      State  Since         Info\n"
    "1002-up1        BGP        ---        down   2026-12-01 23:27:28  \n"
    "1006-  BGP state:          Down\n"
    "     Neighbor address: 10.77.0.2\n"
    "     Neighbor AS:      65001\n"
    "     Local AS:         65000\n"
    "   Channel ipv4\n"
    "     State:          DOWN\n"
    "     Table:          master4\n"
    "     Preference:     100\n"
    "     Input filter:   ACCEPT\n"
    "     Output filter:  (unnamed)\n"
    " \n"
    "0000 \n";

/* BIRD 2.0.12: all.raw */
static const char FIX_ALL[] =
    "2002-Name       Proto      Table      State  Since         Info\n"
    "1002-device1    Device     ---        up     2026-12-01 23:26:37  \n"
    "1006-\n"
    "1002-bfd1       BFD        ---        up     2026-12-01 23:26:37  \n"
    "1006-\n"
    "1002-announce   Static     master4    up     2026-12-01 23:26:37  \n"
    "1006-  Channel ipv4\n"
    "     State:          UP\n"
    "     Table:          master4\n"
    "     Preference:     200\n"
    "     Input filter:   ACCEPT\n"
    "     Output filter:  REJECT\n"
    "     Routes:         1 imported, 0 exported, 1 preferred\n"
    "     Route change stats:     received   rejected   filtered    ignored   accepted\n"
    "       Import updates:              2          0          0          0          2\n"
    "       Import withdraws:            1          0        ---          0          1\n"
    "       Export updates:              0          0          0        ---          0\n"
    "       Export withdraws:            0        ---        ---        ---          0\n"
    " \n"
    "1002-up1        BGP        ---        up     2026-12-01 23:27:34  Established   \n"
    "1006-  BGP state:          Established\n"
    "     Neighbor address: 10.77.0.2\n"
    "     Neighbor AS:      65001\n"
    "     Local AS:         65000\n"
    "     Neighbor ID:      10.77.0.2\n"
    "     Local capabilities\n"
    "       Multiprotocol\n"
    "         AF announced: ipv4\n"
    "       Route refresh\n"
    "       Graceful restart\n"
    "       4-octet AS numbers\n"
    "       Enhanced refresh\n"
    "       Long-lived graceful restart\n"
    "     Neighbor capabilities\n"
    "       Multiprotocol\n"
    "         AF announced: ipv4\n"
    "       Route refresh\n"
    "       Graceful restart\n"
    "       4-octet AS numbers\n"
    "       Enhanced refresh\n"
    "       Long-lived graceful restart\n"
    "     Session:          external AS4\n"
    "     Source address:   10.77.0.1\n"
    "     Hold timer:       5.071/9\n"
    "     Keepalive timer:  1.420/3\n"
    "   Channel ipv4\n"
    "     State:          UP\n"
    "     Table:          master4\n"
    "     Preference:     100\n"
    "     Input filter:   ACCEPT\n"
    "     Output filter:  (unnamed)\n"
    "     Routes:         1 imported, 1 exported, 1 preferred\n"
    "     Route change stats:     received   rejected   filtered    ignored   accepted\n"
    "       Import updates:              1          0          0          0          1\n"
    "       Import withdraws:            0          0        ---          0          0\n"
    "       Export updates:              3          1          0        ---          2\n"
    "       Export withdraws:            1        ---        ---        ---          1\n"
    "     BGP Next hop:   10.77.0.1\n"
    " \n"
    "1002-learned    Kernel     master4    up     2026-12-01 23:26:37  \n"
    "1006-  Channel ipv4\n"
    "     State:          UP\n"
    "     Table:          master4\n"
    "     Preference:     10\n"
    "     Input filter:   REJECT\n"
    "     Output filter:  (unnamed)\n"
    "     Routes:         0 imported, 1 exported, 0 preferred\n"
    "     Route change stats:     received   rejected   filtered    ignored   accepted\n"
    "       Import updates:              0          0          0          0          0\n"
    "       Import withdraws:            0          0        ---          0          0\n"
    "       Export updates:              4          0          2        ---          2\n"
    "       Export withdraws:            2        ---        ---        ---          1\n"
    " \n"
    "0000 \n";

/* BIRD 2.0.12: bfd.raw */
static const char FIX_BFD[] =
    "1020-bfd1:\n"
    " IP address                Interface  State      Since         Interval  Timeout\n"
    " 10.77.0.2                 bgpxa      Up         2026-12-01 23:27:32    0.100    0.300\n"
    "0000 \n";

/* BIRD 2.0.12: configure_bad.raw */
static const char FIX_CONFIGURE_BAD[] =
    "0002-Reading configuration from gw.conf\n"
    "8002 /tmp/bgpx/announce.conf:1:40 Invalid IPv4 address 192.0.2.300\n";

/* BIRD 2.0.12: configure_ok.raw */
static const char FIX_CONFIGURE_OK[] =
    "0002-Reading configuration from gw.conf\n"
    "0003 Reconfigured\n";

/* ---- rendering -------------------------------------------------------------- */

static const char *const good_prefixes[] = {"203.0.113.0/24", "192.0.2.10", "192.0.2.10/32"};

static struct bgp_peer_conf good_peers[2];
static struct bgp_config good;

static void reset_good(void)
{
    memset(good_peers, 0, sizeof(good_peers));
    good_peers[0] = (struct bgp_peer_conf){
        .name = "up1", .address = "10.0.0.2", .peer_asn = 65001, .hold_time = 9,
        .keepalive = 3, .bfd = true, .password = "s3cret", .source_address = "10.0.0.1"};
    good_peers[1] = (struct bgp_peer_conf){
        .name = "up_2", .address = "10.0.1.2", .peer_asn = 4200000000u, .local_asn = 65100};
    good = (struct bgp_config){
        .router_id = "192.0.2.1", .local_asn = 65000, .peers = good_peers, .n_peers = 2,
        .prefixes = good_prefixes, .n_prefixes = 3, .kernel_table = 100};
}

static char *render_main(void)
{
    struct bgp_error err;
    char *out = NULL;
    size_t len = 0;

    assert_int_equal(bgp_render_main(&good, "/run/rampart/bgp/announce.conf", &out, &len, &err), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_render_main_has_router_id_device_bfd_and_one_bgp_per_peer(void **state)
{
    (void)state;
    reset_good();
    char *out = render_main();
    static const char *const want[] = {
        "router id 192.0.2.1;\n",
        "protocol device {\n}\n",
        "protocol bfd {\n    interface \"*\" {\n        min rx interval 100 ms;\n"
        "        min tx interval 100 ms;\n        multiplier 3;\n    };\n}\n",
        "include \"/run/rampart/bgp/announce.conf\";\n",
        "protocol bgp peer_up1 {\n    local as 65000;\n    neighbor 10.0.0.2 as 65001;\n"
        "    source address 10.0.0.1;\n    hold time 9;\n    keepalive time 3;\n    bfd on;\n"
        "    error wait time 2, 30;\n    password \"s3cret\";\n    ipv4 {\n        import all;\n"
        "        export where proto = \"announce\";\n    };\n}\n",
        "protocol bgp peer_up_2 {\n    local as 65100;\n    neighbor 10.0.1.2 as 4200000000;\n"
        "    error wait time 2, 30;\n    ipv4 {\n",
        "protocol kernel learned {\n    kernel table 100;\n    merge paths on;\n    ipv4 {\n"
        "        import none;\n        export where source = RTS_BGP;\n    };\n}\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(out, want[i]))
            fail_msg("missing:\n%s\nin:\n%s", want[i], out);
    }
    /* Announcements live only in the included file. */
    assert_null(strstr(out, "route 192.0.2.10"));
    free(out);
}

static void test_render_main_leaves_out_bfd_when_no_peer_wants_it(void **state)
{
    (void)state;
    reset_good();
    good_peers[0].bfd = false;
    char *out = render_main();
    assert_null(strstr(out, "protocol bfd"));
    assert_null(strstr(out, "bfd on"));
    free(out);
}

static void test_render_bfd_intervals_follow_the_config(void **state)
{
    (void)state;
    reset_good();
    good.bfd_interval_ms = 300;
    good.bfd_multiplier = 5;
    char *out = render_main();
    assert_non_null(strstr(out, "min rx interval 300 ms;"));
    assert_non_null(strstr(out, "min tx interval 300 ms;"));
    assert_non_null(strstr(out, "multiplier 5;"));
    free(out);
}

static void test_render_announce_sorts_merges_and_makes_host_routes(void **state)
{
    (void)state;
    reset_good();
    struct bgp_error err;
    char *out = NULL;
    size_t len;

    assert_int_equal(bgp_render_announce(&good, &out, &len, &err), 0);
    assert_string_equal(out, "# Written by rampart-gateway: the prefixes announced to every peer.\n"
                             "protocol static announce {\n    ipv4;\n"
                             "    route 192.0.2.10/32 blackhole;\n"
                             "    route 203.0.113.0/24 blackhole;\n}\n");
    free(out);

    good.n_prefixes = 0;
    assert_int_equal(bgp_render_announce(&good, &out, &len, &err), 0);
    assert_string_equal(out, "# Written by rampart-gateway: the prefixes announced to every peer.\n"
                             "protocol static announce {\n    ipv4;\n}\n");
    free(out);
}

struct refusal {
    const char *what;
    void (*spoil)(void);
    const char *field;
};

static const char *bad_pfx[1];
static void bad_name_dash(void) { good_peers[0].name = "up-1"; }
static void bad_name_inject(void) { good_peers[0].name = "x { }\nprotocol"; }
static void bad_name_empty(void) { good_peers[1].name = ""; }
static void bad_name_null(void) { good_peers[1].name = NULL; }
static void bad_name_long(void) { good_peers[0].name = "a234567890123456789012345678901x"; }
static void bad_name_dup(void) { good_peers[1].name = "up1"; }
static void bad_addr_octet(void) { good_peers[0].address = "10.0.0.256"; }
static void bad_addr_inject(void) { good_peers[0].address = "10.0.0.2; }"; }
static void bad_addr_multicast(void) { good_peers[1].address = "224.0.0.5"; }
static void bad_addr_zero(void) { good_peers[0].address = "0.0.0.0"; }
static void bad_addr_dup(void) { good_peers[1].address = "10.0.0.2"; }
static void bad_addr_leading_zero(void) { good_peers[0].address = "10.0.0.02"; }
static void bad_src(void) { good_peers[0].source_address = "10.0.0"; }
static void bad_pw_quote(void) { good_peers[0].password = "a\"; import all; \""; }
static void bad_pw_newline(void) { good_peers[0].password = "a\nb"; }
static void bad_pw_backslash(void) { good_peers[0].password = "a\\"; }
static void bad_pw_long(void)
{
    good_peers[0].password = "0123456789012345678901234567890123456789"
                             "01234567890123456789012345678901234567890";
}
static void bad_rid(void) { good.router_id = "0.0.0.0"; }
static void bad_rid_text(void) { good.router_id = "router"; }
static void bad_local_asn(void) { good.local_asn = 0; }
static void bad_peer_asn(void) { good_peers[1].peer_asn = 0; }
static void bad_hold(void) { good_peers[0].hold_time = 2; }
static void bad_keepalive(void) { good_peers[0].keepalive = 10; }
static void bad_table(void) { good.kernel_table = 254; }
static void bad_table_zero(void) { good.kernel_table = 0; }
static void bad_bfd(void) { good.bfd_interval_ms = 5; }
static void set_bad_pfx(const char *p)
{
    bad_pfx[0] = p;
    good.prefixes = bad_pfx;
    good.n_prefixes = 1;
}
static void bad_pfx_host_bits(void) { set_bad_pfx("10.0.0.1/24"); }
static void bad_pfx_len(void) { set_bad_pfx("10.0.0.0/33"); }
static void bad_pfx_empty_len(void) { set_bad_pfx("10.0.0.0/"); }
static void bad_pfx_zero_len(void) { set_bad_pfx("10.0.0.0/08"); }
static void bad_pfx_text(void) { set_bad_pfx("blackhole; }"); }
static void bad_pfx_null(void) { set_bad_pfx(NULL); }

static const struct refusal refusals[] = {
    {"dash in name", bad_name_dash, "peers[0].name"},
    {"config injection in name", bad_name_inject, "peers[0].name"},
    {"empty name", bad_name_empty, "peers[1].name"},
    {"missing name", bad_name_null, "peers[1].name"},
    {"32-character name", bad_name_long, "peers[0].name"},
    {"duplicate name", bad_name_dup, "peers[1].name"},
    {"octet above 255", bad_addr_octet, "peers[0].address"},
    {"injection in address", bad_addr_inject, "peers[0].address"},
    {"multicast peer", bad_addr_multicast, "peers[1].address"},
    {"zero peer", bad_addr_zero, "peers[0].address"},
    {"duplicate peer address", bad_addr_dup, "peers[1].address"},
    {"leading zero", bad_addr_leading_zero, "peers[0].address"},
    {"short source address", bad_src, "peers[0].source_address"},
    {"quote in password", bad_pw_quote, "peers[0].password"},
    {"newline in password", bad_pw_newline, "peers[0].password"},
    {"backslash in password", bad_pw_backslash, "peers[0].password"},
    {"81-character password", bad_pw_long, "peers[0].password"},
    {"zero router id", bad_rid, "router_id"},
    {"text router id", bad_rid_text, "router_id"},
    {"local asn 0", bad_local_asn, "local_asn"},
    {"peer asn 0", bad_peer_asn, "peers[1].peer_asn"},
    {"hold time 2", bad_hold, "peers[0].hold_time"},
    {"keepalive above hold", bad_keepalive, "peers[0].keepalive"},
    {"kernel table main", bad_table, "kernel_table"},
    {"kernel table 0", bad_table_zero, "kernel_table"},
    {"bfd interval 5 ms", bad_bfd, "bfd_interval_ms"},
    {"host bits", bad_pfx_host_bits, "prefixes[0]"},
    {"length 33", bad_pfx_len, "prefixes[0]"},
    {"empty length", bad_pfx_empty_len, "prefixes[0]"},
    {"leading zero length", bad_pfx_zero_len, "prefixes[0]"},
    {"text prefix", bad_pfx_text, "prefixes[0]"},
    {"missing prefix", bad_pfx_null, "prefixes[0]"},
};

static void test_render_refuses_bad_input_naming_the_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        struct bgp_error err;
        char *out = (char *)1, *ann = (char *)1;

        memset(&err, 0, sizeof(err));
        reset_good();
        refusals[i].spoil();
        int rc = bgp_render_main(&good, "/a/announce.conf", &out, NULL, &err);
        if (rc != -EINVAL || strcmp(err.field, refusals[i].field) != 0)
            fail_msg("%s: rc %d field '%s' (%s), want -EINVAL '%s'", refusals[i].what, rc,
                     err.field, err.msg, refusals[i].field);
        assert_null(out);
        assert_true(err.msg[0] != 0);
        assert_int_equal(bgp_render_announce(&good, &ann, NULL, &err), -EINVAL);
        assert_null(ann);
    }
}

static void test_render_refuses_relative_or_quoted_announce_path(void **state)
{
    (void)state;
    struct bgp_error err;
    char *out = NULL;

    reset_good();
    assert_int_equal(bgp_render_main(&good, "announce.conf", &out, NULL, &err), -EINVAL);
    assert_string_equal(err.field, "announce_path");
    assert_int_equal(bgp_render_main(&good, "/a/\"; protocol", &out, NULL, &err), -EINVAL);
    assert_null(out);
}

static void test_peer_proto_name_is_prefixed_and_checked(void **state)
{
    (void)state;
    char buf[40];

    assert_int_equal(bgp_peer_proto_name("gw", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "peer_gw");
    assert_int_equal(bgp_peer_proto_name("g w", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(bgp_peer_proto_name("gw", buf, 5), -ENOSPC);
}

/* ---- replies ------------------------------------------------------------------ */

static void parse_ok(const char *s, struct bgp_reply *r)
{
    int rc = bgp_reply_parse(s, strlen(s), r);
    if (rc)
        fail_msg("parse rc %d", rc);
    assert_int_equal(r->consumed, strlen(s));
}

static void test_reply_parse_joins_continuations_under_their_code(void **state)
{
    (void)state;
    struct bgp_reply r;

    parse_ok(FIX_ESTABLISHED, &r);
    assert_int_equal(r.last_code, 0);
    assert_int_equal(r.err_code, 0);
    assert_true(bgp_reply_has_code(&r, 2002));
    assert_true(bgp_reply_has_code(&r, 1002));
    assert_true(bgp_reply_has_code(&r, 1006));
    assert_false(bgp_reply_has_code(&r, 8003));
    assert_non_null(strstr(r.text, "\n1006     Neighbor address: 10.77.0.2\n"));
    assert_non_null(strstr(r.text, "\n1006   BGP state:          Established\n"));
    assert_int_equal(strlen(r.text), r.text_len);
    bgp_reply_free(&r);
    assert_null(r.text);
}

static void test_reply_parse_reports_8xxx_with_its_text(void **state)
{
    (void)state;
    struct bgp_reply r;

    parse_ok(FIX_CONFIGURE_BAD, &r);
    assert_true(bgp_reply_failed(&r));
    assert_int_equal(r.err_code, 8002);
    assert_string_equal(r.err_msg, "/tmp/bgpx/announce.conf:1:40 Invalid IPv4 address 192.0.2.300");
    assert_true(bgp_reply_has_code(&r, 2));
    bgp_reply_free(&r);

    parse_ok("9001 syntax error, unexpected CF_SYM_UNDEFINED\n", &r);
    assert_int_equal(r.err_code, 9001);
    assert_string_equal(r.err_msg, "syntax error, unexpected CF_SYM_UNDEFINED");
    bgp_reply_free(&r);

    parse_ok(FIX_CONFIGURE_OK, &r);
    assert_false(bgp_reply_failed(&r));
    assert_int_equal(r.last_code, 3);
    bgp_reply_free(&r);
}

static void test_reply_parse_finds_the_meaningful_code_before_a_bare_0000(void **state)
{
    (void)state;
    struct bgp_reply r;

    parse_ok("0009-peer_gw: disabled\n0000 \n", &r);
    assert_true(bgp_reply_has_code(&r, 9));
    assert_false(bgp_reply_failed(&r));
    bgp_reply_free(&r);
    parse_ok("8003-No protocols match\n more text\n0000 \n", &r);
    assert_int_equal(r.last_code, 0);
    assert_int_equal(r.err_code, 8003);
    assert_string_equal(r.err_msg, "No protocols match");
    bgp_reply_free(&r);
}

static void test_reply_parse_wants_more_bytes_for_every_proper_prefix(void **state)
{
    (void)state;
    size_t len = strlen(FIX_ESTABLISHED);
    struct bgp_reply r;

    for (size_t i = 0; i < len; i++)
        assert_int_equal(bgp_reply_parse(FIX_ESTABLISHED, i, &r), -EAGAIN);
    assert_null(r.text);
}

static void test_reply_parse_skips_unsolicited_lines(void **state)
{
    (void)state;
    struct bgp_reply r;

    parse_ok("+0000 something happened\n0013 Daemon is up and running\n", &r);
    assert_int_equal(r.n_lines, 1);
    assert_string_equal(r.text, "0013 Daemon is up and running\n");
    bgp_reply_free(&r);
}

static void test_reply_parse_stops_after_the_first_reply(void **state)
{
    (void)state;
    const char two[] = "0001 BIRD 2.0.12 ready.\n0013 Daemon is up\n";
    struct bgp_reply r;

    assert_int_equal(bgp_reply_parse(two, strlen(two), &r), 0);
    assert_int_equal(r.consumed, strlen("0001 BIRD 2.0.12 ready.\n"));
    assert_int_equal(r.last_code, 1);
    bgp_reply_free(&r);
}

static void test_reply_parse_refuses_what_bird_never_sends(void **state)
{
    (void)state;
    static const char *const bad[] = {"hello\n", " continuation first\n", "12a4 x\n",
                                      "0001\n", "0001x\n", "\n", "0001-a\nzz\n",
                                      "0001-a\n b\0c\n0000 \n"};
    struct bgp_reply r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = i == 7 ? 18 : strlen(bad[i]);   /* [7] holds a NUL */
        if (bgp_reply_parse(bad[i], len, &r) != -EPROTO)
            fail_msg("accepted %s", bad[i]);
        assert_null(r.text);
    }
}

static void test_reply_parse_refuses_overlong_lines_and_replies(void **state)
{
    (void)state;
    size_t big = BGP_REPLY_MAX + 64;
    char *buf = malloc(big);
    struct bgp_reply r;

    assert_non_null(buf);
    memcpy(buf, "1000-", 5);
    memset(buf + 5, 'x', BGP_LINE_MAX + 10);
    assert_int_equal(bgp_reply_parse(buf, BGP_LINE_MAX + 15, &r), -EMSGSIZE);
    buf[BGP_LINE_MAX + 15] = '\n';
    assert_int_equal(bgp_reply_parse(buf, BGP_LINE_MAX + 16, &r), -EMSGSIZE);
    /* Many short lines that never end the reply. */
    for (size_t i = 0; i + 9 <= big; i += 9)
        memcpy(buf + i, "1000-abc\n", 9);
    assert_int_equal(bgp_reply_parse(buf, big - big % 9, &r), -EMSGSIZE);
    free(buf);
}

/* ---- show protocols / bfd --------------------------------------------------------- */

static void parse_protocols(const char *fix, struct bgp_proto_info *out, size_t max, size_t *n)
{
    struct bgp_reply r;

    parse_ok(fix, &r);
    assert_int_equal(bgp_protocols_parse(r.text, r.text_len, out, max, n), 0);
    bgp_reply_free(&r);
}

static void test_protocols_parse_established_peer(void **state)
{
    (void)state;
    struct bgp_proto_info p;
    size_t n;

    parse_protocols(FIX_ESTABLISHED, &p, 1, &n);
    assert_int_equal(n, 1);
    assert_string_equal(p.name, "up1");
    assert_string_equal(p.proto, "BGP");
    assert_string_equal(p.state, "up");
    assert_string_equal(p.since, "2026-12-01 23:27:34");
    assert_true(p.since_unix > 0);
    assert_string_equal(p.info, "Established");
    assert_int_equal(p.bgp_state, BGP_STATE_ESTABLISHED);
    assert_string_equal(p.neighbor_address, "10.77.0.2");
    assert_int_equal(p.neighbor_as, 65001);
    assert_int_equal(p.local_as, 65000);
    assert_true(p.has_routes);
    assert_int_equal(p.routes_imported, 1);
    assert_int_equal(p.routes_exported, 1);
    assert_int_equal(p.routes_preferred, 1);
    assert_string_equal(p.last_error, "");
    assert_string_equal(bgp_state_name(p.bgp_state), "Established");
}

static void test_protocols_parse_active_peer_with_last_error(void **state)
{
    (void)state;
    struct bgp_proto_info p;
    size_t n;

    parse_protocols(FIX_ACTIVE, &p, 1, &n);
    assert_int_equal(n, 1);
    assert_string_equal(p.state, "start");
    assert_int_equal(p.bgp_state, BGP_STATE_ACTIVE);
    assert_string_equal(p.last_error, "Received: Administrative shutdown");
    assert_string_equal(p.info, "Active        Received: Administrative shutdown");
    assert_false(p.has_routes);   /* a channel that is down prints no Routes: line */

    parse_protocols(FIX_CONNECT, &p, 1, &n);
    assert_int_equal(p.bgp_state, BGP_STATE_CONNECT);
    parse_protocols(FIX_DISABLED, &p, 1, &n);
    assert_int_equal(p.bgp_state, BGP_STATE_DOWN);
    assert_string_equal(p.state, "down");
    assert_string_equal(p.last_error, "");
}

static void test_protocols_parse_all_protocols_counts_past_max(void **state)
{
    (void)state;
    struct bgp_proto_info p[2];
    size_t n;

    parse_protocols(FIX_ALL, p, 2, &n);
    assert_int_equal(n, 5);
    assert_string_equal(p[0].name, "device1");
    assert_string_equal(p[0].proto, "Device");
    assert_int_equal(p[0].bgp_state, BGP_STATE_UNKNOWN);
    assert_string_equal(p[1].name, "bfd1");

    struct bgp_proto_info all[8];
    parse_protocols(FIX_ALL, all, 8, &n);
    assert_int_equal(n, 5);
    assert_string_equal(all[2].name, "announce");
    assert_true(all[2].has_routes);
    assert_int_equal(all[2].routes_imported, 1);
    assert_int_equal(all[3].bgp_state, BGP_STATE_ESTABLISHED);
    assert_string_equal(all[4].name, "learned");
}

static void test_protocols_parse_short_row_is_refused(void **state)
{
    (void)state;
    const char t[] = "1002 up1 BGP ---\n";
    struct bgp_proto_info p;
    size_t n;

    assert_int_equal(bgp_protocols_parse(t, strlen(t), &p, 1, &n), -EPROTO);
}

static void test_bfd_parse_sessions_and_join_by_neighbor(void **state)
{
    (void)state;
    struct bgp_bfd_session s[4];
    struct bgp_proto_info p;
    struct bgp_reply r;
    size_t n;

    parse_ok(FIX_BFD, &r);
    assert_int_equal(bgp_bfd_parse(r.text, r.text_len, s, 4, &n), 0);
    bgp_reply_free(&r);
    assert_int_equal(n, 1);
    assert_string_equal(s[0].address, "10.77.0.2");
    assert_string_equal(s[0].iface, "bgpxa");
    assert_int_equal(s[0].state, BGP_BFD_UP);
    assert_string_equal(s[0].since, "2026-12-01 23:27:32");

    parse_protocols(FIX_ESTABLISHED, &p, 1, &n);
    bgp_bfd_apply(&p, s, 1);
    assert_int_equal(p.bfd, BGP_BFD_UP);
    strcpy(p.neighbor_address, "10.77.0.9");
    bgp_bfd_apply(&p, s, 1);
    assert_int_equal(p.bfd, BGP_BFD_NONE);
}

/* ---- control-socket client ----------------------------------------------------------- */

static void test_ctl_command_sends_one_line_and_reads_the_reply(void **state)
{
    (void)state;
    int sv[2];
    char got[64] = {0};
    struct bgp_reply r;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], FIX_CONFIGURE_BAD, strlen(FIX_CONFIGURE_BAD)),
                     (ssize_t)strlen(FIX_CONFIGURE_BAD));
    assert_int_equal(bgp_ctl_command(sv[0], "configure", 2000, &r), 0);
    assert_int_equal(r.err_code, 8002);
    bgp_reply_free(&r);
    assert_int_equal(read(sv[1], got, sizeof(got) - 1), 10);
    assert_string_equal(got, "configure\n");
    assert_int_equal(bgp_ctl_command(sv[0], "show\nconfigure", 2000, &r), -EINVAL);

    /* Half a reply, then the daemon goes away. */
    assert_int_equal(write(sv[1], "1002-x\n", 7), 7);
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
    assert_int_equal(bgp_ctl_command(sv[0], "show protocols", 2000, &r), -ECONNRESET);
    close(sv[1]);
    /* Nobody left to send to. */
    assert_int_equal(bgp_ctl_command(sv[0], "show protocols", 2000, &r), -EPIPE);
    close(sv[0]);
}

static void test_ctl_connect_times_out_without_a_banner(void **state)
{
    (void)state;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int lfd, fd;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/rp-bgp-test-%d.ctl", (int)getpid());
    unlink(sa.sun_path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(bgp_ctl_connect(sa.sun_path, 100, &fd), -ETIMEDOUT);
    assert_int_equal(fd, -1);
    close(lfd);
    unlink(sa.sun_path);
    assert_int_equal(bgp_ctl_connect(sa.sun_path, 100, &fd), -ENOENT);
}

/* ---- supervisor with stand-in children -------------------------------------------------- */

static uint64_t ms(uint64_t v)
{
    return v * 1000000u;
}

static void nap(void)
{
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
}

static void make_dir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/rpbgp.XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static void remove_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static enum bgp_sup_state sup_state(struct bgp_sup *s)
{
    struct bgp_sup_status st;
    bgp_sup_status(s, &st);
    return st.state;
}

/* Poll at a fixed fake time until the state is reached (the child's exit is
 * real, so this waits on the kernel, boundedly). */
static bool poll_until(struct bgp_sup *s, uint64_t now, enum bgp_sup_state want)
{
    for (int i = 0; i < 1000; i++) {
        bgp_sup_poll(s, now, NULL);
        if (sup_state(s) == want)
            return true;
        nap();
    }
    return false;
}

static void test_sup_start_needs_an_installed_config(void **state)
{
    (void)state;
    char dir[64];
    struct bgp_sup *s;
    struct bgp_sup_opts o = {.dir = dir, .bird_path = "/bin/true"};

    make_dir(dir, sizeof(dir));
    assert_int_equal(bgp_sup_create(&o, &s), 0);
    assert_int_equal(bgp_sup_start(s, ms(1)), -ENOENT);
    assert_int_equal(sup_state(s), BGP_SUP_STOPPED);
    assert_int_equal(bgp_sup_command(s, "show status", &(struct bgp_reply){0}), -ENOTCONN);
    bgp_sup_destroy(s);
    bgp_sup_destroy(NULL);
    remove_dir(dir);
}

static void test_sup_restarts_a_dying_child_with_doubling_capped_backoff(void **state)
{
    (void)state;
    static const uint32_t want[] = {500, 1000, 2000, 3000, 3000};
    char dir[64];
    struct bgp_sup *s;
    struct bgp_sup_status st;
    struct bgp_error err;
    /* A start timeout past the jump below: the child's own exit is what counts. */
    struct bgp_sup_opts o = {.dir = dir, .bird_path = "/bin/true", .backoff_max_ms = 3000,
                             .start_timeout_ms = 120000};
    uint64_t now = ms(1000);

    make_dir(dir, sizeof(dir));
    assert_int_equal(bgp_sup_create(&o, &s), 0);
    assert_int_equal(bgp_sup_apply_text(s, "# main\n", "# announce\n", &err), 0);
    assert_int_equal(bgp_sup_start(s, now), 0);
    assert_int_equal(sup_state(s), BGP_SUP_STARTING);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_true(poll_until(s, now, BGP_SUP_BACKOFF));
        bgp_sup_status(s, &st);
        assert_int_equal(st.backoff_ms, want[i]);
        assert_int_equal(st.restarts, i + 1);
        assert_true(WIFEXITED(st.last_wait_status));
        bgp_sup_poll(s, now + ms(want[i]) - 1, NULL);
        assert_int_equal(sup_state(s), BGP_SUP_BACKOFF);   /* not a moment early */
        now += ms(want[i]);
        bgp_sup_poll(s, now, NULL);
        assert_int_equal(sup_state(s), BGP_SUP_STARTING);
    }
    /* A child that ran for the stable time earns the short delay again. */
    now += ms(60000);
    assert_true(poll_until(s, now, BGP_SUP_BACKOFF));
    bgp_sup_status(s, &st);
    assert_int_equal(st.backoff_ms, 500);
    assert_int_equal(bgp_sup_stop(s, now), 0);
    assert_int_equal(sup_state(s), BGP_SUP_STOPPED);
    bgp_sup_destroy(s);
    remove_dir(dir);
}

static void test_sup_stop_escalates_to_sigkill_when_term_is_ignored(void **state)
{
    (void)state;
    char dir[64], script[96], ready[96];
    struct bgp_sup *s;
    struct bgp_sup_status st;
    struct bgp_error err;
    struct bgp_sup_opts o = {.dir = dir, .bird_path = script, .stop_timeout_ms = 1000};
    FILE *f;

    make_dir(dir, sizeof(dir));
    snprintf(script, sizeof(script), "%s/stubborn.sh", dir);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n[ \"$1\" = -p ] && exit 0\ntrap '' TERM\ntouch '%s'\nexec sleep 60\n",
            ready);
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);
    assert_int_equal(bgp_sup_create(&o, &s), 0);
    assert_int_equal(bgp_sup_apply_text(s, "# main\n", "# announce\n", &err), 0);
    assert_int_equal(bgp_sup_start(s, ms(1000)), 0);
    for (int i = 0; i < 1000 && access(ready, F_OK) != 0; i++)
        nap();
    assert_int_equal(access(ready, F_OK), 0);
    assert_int_equal(bgp_sup_stop(s, ms(2000)), 0);
    assert_int_equal(sup_state(s), BGP_SUP_STOPPING);
    for (int i = 0; i < 5; i++) {
        bgp_sup_poll(s, ms(2000), NULL);
        nap();
    }
    assert_int_equal(sup_state(s), BGP_SUP_STOPPING);   /* it ignores SIGTERM */
    assert_true(poll_until(s, ms(3000), BGP_SUP_STOPPED));
    bgp_sup_status(s, &st);
    assert_true(WIFSIGNALED(st.last_wait_status));
    assert_int_equal(WTERMSIG(st.last_wait_status), SIGKILL);
    assert_int_equal(st.restarts, 0);
    assert_int_equal(st.pid, 0);
    bgp_sup_destroy(s);
    remove_dir(dir);
}

static bool have_bird(void)
{
    return access("/usr/sbin/bird", X_OK) == 0;
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_sup_apply_refused_by_bird_keeps_the_previous_files(void **state)
{
    (void)state;
    char dir[64], path[96], *main_conf = NULL, *ann = NULL, *old_main, *old_ann;
    struct bgp_sup *s;
    struct bgp_sup_status st;
    struct bgp_error err;
    struct bgp_sup_opts o = {.dir = dir};

    if (!have_bird())
        skip();
    make_dir(dir, sizeof(dir));
    assert_int_equal(bgp_sup_create(&o, &s), 0);
    reset_good();
    assert_int_equal(bgp_render_main(&good, bgp_sup_announce_path(s), &main_conf, NULL, &err), 0);
    assert_int_equal(bgp_render_announce(&good, &ann, NULL, &err), 0);
    assert_int_equal(bgp_sup_apply_text(s, main_conf, ann, &err), 0);
    snprintf(path, sizeof(path), "%s/bird.conf", dir);
    old_main = strdup(slurp(path));
    old_ann = strdup(slurp(bgp_sup_announce_path(s)));
    assert_string_equal(old_main, main_conf);
    assert_string_equal(old_ann, ann);

    assert_int_equal(bgp_sup_apply_text(s, main_conf,
                                        "protocol static announce { ipv4; route 192.0.2.300/32 "
                                        "blackhole; }\n", &err),
                     -EINVAL);
    assert_string_equal(err.field, "bird");
    assert_non_null(strstr(err.msg, "Invalid IPv4 address 192.0.2.300"));
    assert_string_equal(slurp(path), old_main);
    assert_string_equal(slurp(bgp_sup_announce_path(s)), old_ann);
    snprintf(path, sizeof(path), "%s/bird.conf.new", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    bgp_sup_status(s, &st);
    assert_int_equal(st.config_gen, 1);
    assert_non_null(strstr(st.last_error, "Invalid IPv4 address"));

    /* Refused by our own validation: nothing is written either. */
    good.router_id = "10.0.0.256";
    assert_int_equal(bgp_sup_apply(s, &good, &err), -EINVAL);
    assert_string_equal(err.field, "router_id");
    bgp_sup_status(s, &st);
    assert_int_equal(st.config_gen, 1);
    free(old_main);
    free(old_ann);
    free(main_conf);
    free(ann);
    bgp_sup_destroy(s);
    remove_dir(dir);
}

/* ---- a real BIRD pair in two network namespaces ------------------------------------------ */

struct ns_pair {
    char dir[64];
    char gw_ns[24], up_ns[24], netns_path[64];
    char up_sock[96], up_pid[96];
    bool made_gw, made_up, ready;
    struct bgp_sup *sup;
};


static int ns_setup(void **state)
{
    struct ns_pair *p;

    if (geteuid() != 0 || !have_bird() ||
        (access("/usr/sbin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0)) {
        *state = NULL;
        return 0;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    make_dir(p->dir, sizeof(p->dir));
    snprintf(p->gw_ns, sizeof(p->gw_ns), "rpbgp%dg", (int)getpid());
    snprintf(p->up_ns, sizeof(p->up_ns), "rpbgp%du", (int)getpid());
    snprintf(p->netns_path, sizeof(p->netns_path), "/var/run/netns/%s", p->gw_ns);
    snprintf(p->up_sock, sizeof(p->up_sock), "%s/up.ctl", p->dir);
    snprintf(p->up_pid, sizeof(p->up_pid), "%s/up.pid", p->dir);
    *state = p;
    if (sh("ip netns add %s", p->gw_ns) != 0)
        return 0;   /* the test skips: no namespaces here */
    p->made_gw = true;
    if (sh("ip netns add %s", p->up_ns) != 0)
        return 0;
    p->made_up = true;
    if (sh("ip link add rpb%da type veth peer name rpb%db && "
           "ip link set rpb%da netns %s && ip link set rpb%db netns %s && "
           "ip -n %s addr add 10.99.0.1/24 dev rpb%da && ip -n %s link set rpb%da up && "
           "ip -n %s link set lo up && "
           "ip -n %s addr add 10.99.0.2/24 dev rpb%db && ip -n %s link set rpb%db up && "
           "ip -n %s link set lo up",
           (int)getpid(), (int)getpid(), (int)getpid(), p->gw_ns, (int)getpid(), p->up_ns,
           p->gw_ns, (int)getpid(), p->gw_ns, (int)getpid(), p->gw_ns, p->up_ns, (int)getpid(),
           p->up_ns, (int)getpid(), p->up_ns) == 0)
        p->ready = true;
    return 0;
}

static int ns_teardown(void **state)
{
    struct ns_pair *p = *state;
    char *pid;

    if (!p)
        return 0;
    bgp_sup_destroy(p->sup);   /* SIGTERM, then SIGKILL: bounded */
    pid = slurp(p->up_pid);
    if (pid && atoi(pid) > 1) {
        kill(atoi(pid), SIGKILL);
    }
    if (p->made_gw)
        sh("ip netns del %s", p->gw_ns);   /* takes the veth pair with it */
    if (p->made_up)
        sh("ip netns del %s", p->up_ns);
    remove_dir(p->dir);
    free(p);
    return 0;
}

static bool ctl_has(const char *sock, const char *cmd, const char *needle)
{
    struct bgp_reply r;
    bool ok;

    if (bgp_ctl_run(sock, cmd, 2000, &r) != 0)
        return false;
    ok = !bgp_reply_failed(&r) && r.text && strstr(r.text, needle);
    bgp_reply_free(&r);
    return ok;
}

static bool up_has_route(struct ns_pair *p, const char *pfx)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "show route %s", pfx);
    return ctl_has(p->up_sock, cmd, pfx);
}

static bool gw_established(struct ns_pair *p)
{
    struct bgp_proto_info info;
    return bgp_sup_peer_info(p->sup, "up1", &info) == 0 &&
           info.bgp_state == BGP_STATE_ESTABLISHED && info.bfd == BGP_BFD_UP;
}

static bool learned_in_table(struct ns_pair *p)
{
    char cmd[128], line[256];
    bool found = false;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "ip -n %s route show table 100", p->gw_ns);
    f = popen(cmd, "r");
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, "198.51.100.0/24 via 10.99.0.2"))
            found = true;
    pclose(f);
    return found;
}

enum cond { C_RUNNING, C_ESTABLISHED, C_ROUTE_10, C_ROUTE_11, C_NO_ROUTE_10, C_LEARNED,
            C_RESTARTED, C_STOPPED };

/* Drive the supervisor and wait for a condition, bounded (60 s). */
static bool wait_for(struct ns_pair *p, enum cond c)
{
    struct bgp_sup_status st;

    for (int i = 0; i < 1200; i++) {
        bool ok = false;
        struct timespec ts = {0, 50 * 1000000};

        bgp_sup_poll(p->sup, timer_now_ns(), NULL);
        bgp_sup_status(p->sup, &st);
        switch (c) {
        case C_RUNNING: ok = st.state == BGP_SUP_RUNNING; break;
        case C_ESTABLISHED: ok = gw_established(p); break;
        case C_ROUTE_10: ok = up_has_route(p, "192.0.2.10/32"); break;
        case C_ROUTE_11: ok = up_has_route(p, "192.0.2.11/32"); break;
        case C_NO_ROUTE_10: ok = !up_has_route(p, "192.0.2.10/32"); break;
        case C_LEARNED: ok = learned_in_table(p); break;
        case C_RESTARTED: ok = st.restarts >= 1 && st.state == BGP_SUP_RUNNING; break;
        case C_STOPPED: ok = st.state == BGP_SUP_STOPPED; break;
        }
        if (ok)
            return true;
        nanosleep(&ts, NULL);
    }
    return false;
}

static void test_real_bird_session_announcements_refusal_restart_and_stop(void **state)
{
    struct ns_pair *p = *state;
    static const char *const pfx1[] = {"192.0.2.10", "203.0.113.0/24"};
    static const char *const pfx2[] = {"192.0.2.10", "192.0.2.11", "203.0.113.0/24"};
    struct bgp_peer_conf peer = {.name = "up1", .address = "10.99.0.2", .peer_asn = 65001,
                                 .hold_time = 9, .keepalive = 3, .bfd = true,
                                 .password = "s3cret"};
    struct bgp_config cfg = {.router_id = "10.99.0.1", .local_asn = 65000, .peers = &peer,
                             .n_peers = 1, .prefixes = pfx1, .n_prefixes = 2,
                             .kernel_table = 100};
    struct bgp_sup_opts o = {0};
    struct bgp_proto_info before, after;
    struct bgp_sup_status st;
    struct bgp_error err;
    char *main_conf = NULL;
    pid_t first_pid;
    FILE *f;

    if (!p || !p->ready)
        skip();
    o.dir = p->dir;
    o.netns = p->netns_path;
    o.backoff_min_ms = 200;

    /* The upstream: a plain BIRD configured by hand. */
    char up_conf[96];
    snprintf(up_conf, sizeof(up_conf), "%s/up.conf", p->dir);
    f = fopen(up_conf, "w");
    assert_non_null(f);
    fprintf(f, "router id 10.99.0.2;\nprotocol device { }\n"
               "protocol bfd { interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; "
               "multiplier 3; }; }\n"
               "protocol static { ipv4; route 198.51.100.0/24 blackhole; }\n"
               "protocol bgp gateway1 { local as 65001; neighbor 10.99.0.1 as 65000; bfd on;\n"
               "  password \"s3cret\"; error wait time 1, 5; hold time 9; keepalive time 3;\n"
               "  ipv4 { import all; export all; }; }\n");
    fclose(f);
    assert_int_equal(sh("ip netns exec %s /usr/sbin/bird -c %s -s %s -P %s", p->up_ns, up_conf,
                        p->up_sock, p->up_pid), 0);

    /* The gateway's BIRD, started by the supervisor. */
    assert_int_equal(bgp_sup_create(&o, &p->sup), 0);
    assert_int_equal(bgp_sup_apply(p->sup, &cfg, &err), 0);
    assert_int_equal(bgp_sup_start(p->sup, timer_now_ns()), 0);
    assert_true(wait_for(p, C_RUNNING));
    assert_true(wait_for(p, C_ESTABLISHED));
    assert_true(wait_for(p, C_ROUTE_10));
    assert_true(up_has_route(p, "203.0.113.0/24"));
    assert_true(wait_for(p, C_LEARNED));

    /* New announcements do not touch the session. */
    assert_int_equal(bgp_sup_peer_info(p->sup, "up1", &before), 0);
    cfg.prefixes = pfx2;
    cfg.n_prefixes = 3;
    assert_int_equal(bgp_sup_apply(p->sup, &cfg, &err), 0);
    assert_true(wait_for(p, C_ROUTE_11));
    assert_int_equal(bgp_sup_peer_info(p->sup, "up1", &after), 0);
    assert_int_equal(after.bgp_state, BGP_STATE_ESTABLISHED);
    assert_string_equal(after.since, before.since);
    assert_int_equal(after.routes_exported, 3);

    /* A config BIRD refuses leaves the running one alone. */
    assert_int_equal(bgp_render_main(&cfg, bgp_sup_announce_path(p->sup), &main_conf, NULL, &err),
                     0);
    assert_int_equal(bgp_sup_apply_text(p->sup, main_conf,
                                        "protocol static announce { ipv4; route 192.0.2.300/32 "
                                        "blackhole; }\n", &err),
                     -EINVAL);
    free(main_conf);
    assert_string_equal(err.field, "bird");
    assert_non_null(strstr(err.msg, "8002"));
    assert_non_null(strstr(err.msg, "Invalid IPv4 address 192.0.2.300"));
    assert_non_null(strstr(slurp(bgp_sup_announce_path(p->sup)), "192.0.2.11/32"));
    assert_true(gw_established(p));
    assert_true(up_has_route(p, "192.0.2.11/32"));
    bgp_sup_status(p->sup, &st);
    assert_non_null(strstr(st.last_error, "Invalid IPv4 address"));

    /* kill -9: the supervisor restarts BIRD and the session comes back. */
    first_pid = st.pid;
    assert_true(first_pid > 0);
    assert_int_equal(kill(first_pid, SIGKILL), 0);
    assert_true(wait_for(p, C_RESTARTED));
    bgp_sup_status(p->sup, &st);
    assert_int_not_equal(st.pid, first_pid);
    assert_true(WIFSIGNALED(st.last_wait_status));
    assert_true(wait_for(p, C_ESTABLISHED));
    assert_true(wait_for(p, C_ROUTE_11));

    /* Stop on request: BIRD says goodbye and the upstream withdraws. */
    assert_int_equal(bgp_sup_stop(p->sup, timer_now_ns()), 0);
    assert_true(wait_for(p, C_STOPPED));
    assert_true(wait_for(p, C_NO_ROUTE_10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_main_has_router_id_device_bfd_and_one_bgp_per_peer),
        cmocka_unit_test(test_render_main_leaves_out_bfd_when_no_peer_wants_it),
        cmocka_unit_test(test_render_bfd_intervals_follow_the_config),
        cmocka_unit_test(test_render_announce_sorts_merges_and_makes_host_routes),
        cmocka_unit_test(test_render_refuses_bad_input_naming_the_field),
        cmocka_unit_test(test_render_refuses_relative_or_quoted_announce_path),
        cmocka_unit_test(test_peer_proto_name_is_prefixed_and_checked),
        cmocka_unit_test(test_reply_parse_joins_continuations_under_their_code),
        cmocka_unit_test(test_reply_parse_reports_8xxx_with_its_text),
        cmocka_unit_test(test_reply_parse_finds_the_meaningful_code_before_a_bare_0000),
        cmocka_unit_test(test_reply_parse_wants_more_bytes_for_every_proper_prefix),
        cmocka_unit_test(test_reply_parse_skips_unsolicited_lines),
        cmocka_unit_test(test_reply_parse_stops_after_the_first_reply),
        cmocka_unit_test(test_reply_parse_refuses_what_bird_never_sends),
        cmocka_unit_test(test_reply_parse_refuses_overlong_lines_and_replies),
        cmocka_unit_test(test_protocols_parse_established_peer),
        cmocka_unit_test(test_protocols_parse_active_peer_with_last_error),
        cmocka_unit_test(test_protocols_parse_all_protocols_counts_past_max),
        cmocka_unit_test(test_protocols_parse_short_row_is_refused),
        cmocka_unit_test(test_bfd_parse_sessions_and_join_by_neighbor),
        cmocka_unit_test(test_ctl_command_sends_one_line_and_reads_the_reply),
        cmocka_unit_test(test_ctl_connect_times_out_without_a_banner),
        cmocka_unit_test(test_sup_start_needs_an_installed_config),
        cmocka_unit_test(test_sup_restarts_a_dying_child_with_doubling_capped_backoff),
        cmocka_unit_test(test_sup_stop_escalates_to_sigkill_when_term_is_ignored),
        cmocka_unit_test(test_sup_apply_refused_by_bird_keeps_the_previous_files),
        cmocka_unit_test_setup_teardown(test_real_bird_session_announcements_refusal_restart_and_stop,
                                        ns_setup, ns_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
