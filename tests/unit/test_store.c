/*
 * Store contract tests. They run against SQLite in a temporary directory,
 * and against ZooKeeper too when RAMPART_TEST_ZK names a server
 * ("127.0.0.1:21810"); tests/integration/store_zookeeper.sh starts a real
 * ZooKeeper and runs this binary that way.
 */
#include "store/store.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[256];
static int chroot_seq;

static struct store *open_store(void)
{
    struct store_config cfg = {0};
    struct store *s = NULL;
    char path[300], chroot_path[64];
    const char *zk = getenv("RAMPART_TEST_ZK");

    if (zk && *zk) {
        snprintf(chroot_path, sizeof(chroot_path), "/rampart-test-%d-%d", (int)getpid(), ++chroot_seq);
        cfg.backend = STORE_ZOOKEEPER;
        cfg.zk_hosts = zk;
        cfg.zk_chroot = chroot_path;
        cfg.zk_timeout_ms = 10000;
    } else {
        snprintf(path, sizeof(path), "%s/store-%d.db", tmpdir, ++chroot_seq);
        cfg.backend = STORE_SQLITE;
        cfg.sqlite_path = path;
    }
    assert_int_equal(store_open(&s, &cfg), 0);
    return s;
}

struct collected {
    int n;
    char ids[64][40];
    char docs[64][128];
    uint64_t revs[64];
    int ops[64];
};

static int collect(const struct store_record *r, void *arg)
{
    struct collected *c = arg;

    if (c->n < 64) {
        snprintf(c->ids[c->n], sizeof(c->ids[0]), "%s", r->id);
        snprintf(c->docs[c->n], sizeof(c->docs[0]), "%s", r->doc ? r->doc : "");
        c->revs[c->n] = r->rev;
        c->ops[c->n] = r->op;
    }
    c->n++;
    return 0;
}

static void test_commit_then_get_returns_document_and_revision(void **state)
{
    (void)state;
    struct store *s = open_store();
    struct store_change ch = {STORE_PUT, "routers", "r1", "{\"id\":\"r1\"}"};
    uint64_t rev = 0, rev2 = 0, cur = 0;
    char *doc = NULL;

    assert_int_equal(store_commit(s, &ch, 1, &rev), 0);
    assert_true(rev >= 1);
    assert_int_equal(store_get(s, "routers", "r1", &doc, &rev2), 0);
    assert_string_equal(doc, "{\"id\":\"r1\"}");
    assert_int_equal(rev2, rev);
    free(doc);
    assert_int_equal(store_revision(s, &cur), 0);
    assert_int_equal(cur, rev);
    assert_int_equal(store_get(s, "routers", "nope", &doc, NULL), -ENOENT);
    store_close(s);
}

static void test_batch_commits_all_changes_in_one_revision(void **state)
{
    (void)state;
    struct store *s = open_store();
    struct store_change ch[] = {
        {STORE_PUT, "routers", "r1", "{}"},
        {STORE_PUT, "bridges", "b1", "{}"},
        {STORE_PUT, "ports", "p1", "{}"},
    };
    struct collected c = {0};
    uint64_t rev = 0;

    assert_int_equal(store_commit(s, ch, 3, &rev), 0);
    assert_int_equal(store_changes_since(s, 0, 100, collect, &c, NULL), 0);
    assert_int_equal(c.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(c.revs[i], rev);
    store_close(s);
}

static void test_delete_removes_and_is_logged(void **state)
{
    (void)state;
    struct store *s = open_store();
    struct store_change put = {STORE_PUT, "chains", "c1", "{}"};
    struct store_change del = {STORE_DEL, "chains", "c1", NULL};
    struct collected c = {0};
    uint64_t r1, r2;
    char *doc;

    assert_int_equal(store_commit(s, &put, 1, &r1), 0);
    assert_int_equal(store_commit(s, &del, 1, &r2), 0);
    assert_true(r2 > r1);
    assert_int_equal(store_get(s, "chains", "c1", &doc, NULL), -ENOENT);
    assert_int_equal(store_changes_since(s, r1, 100, collect, &c, NULL), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.ops[0], STORE_DEL);
    assert_string_equal(c.ids[0], "c1");
    store_close(s);
}

static void test_changes_since_resumes_without_gap_or_repeat(void **state)
{
    (void)state;
    struct store *s = open_store();
    char id[16], doc[32];
    uint64_t last = 0, seen_rev = 0;
    int seen = 0;
    bool more = true;

    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "p%02d", i);
        snprintf(doc, sizeof(doc), "{\"n\":%d}", i);
        struct store_change ch = {STORE_PUT, "ports", id, doc};
        assert_int_equal(store_commit(s, &ch, 1, NULL), 0);
    }
    /* Read in pages of 7, resuming from the last revision seen each time. */
    while (more) {
        struct collected c = {0};
        assert_int_equal(store_changes_since(s, last, 7, collect, &c, &more), 0);
        for (int i = 0; i < c.n; i++) {
            char want[16];
            snprintf(want, sizeof(want), "p%02d", seen);
            assert_string_equal(c.ids[i], want);
            assert_true(c.revs[i] > seen_rev);
            seen_rev = c.revs[i];
            seen++;
        }
        if (c.n)
            last = c.revs[c.n - 1];
    }
    assert_int_equal(seen, 25);
    store_close(s);
}

static void test_changes_page_never_splits_a_revision(void **state)
{
    (void)state;
    struct store *s = open_store();
    struct store_change big[] = {
        {STORE_PUT, "ports", "a", "{}"}, {STORE_PUT, "ports", "b", "{}"}, {STORE_PUT, "ports", "c", "{}"},
    };
    struct store_change one = {STORE_PUT, "ports", "d", "{}"};
    struct collected c = {0};
    bool more = false;
    uint64_t r1;

    assert_int_equal(store_commit(s, big, 3, &r1), 0);
    assert_int_equal(store_commit(s, &one, 1, NULL), 0);
    /* A page of 2 still returns the whole first batch of 3, then says more. */
    assert_int_equal(store_changes_since(s, 0, 2, collect, &c, &more), 0);
    assert_int_equal(c.n, 3);
    assert_true(more);
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_changes_since(s, r1, 2, collect, &c, &more), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.ids[0], "d");
    assert_false(more);
    store_close(s);
}

static void test_replace_all_swaps_the_whole_topology_atomically(void **state)
{
    (void)state;
    struct store *s = open_store();
    struct store_change old[] = {{STORE_PUT, "routers", "r1", "{}"}, {STORE_PUT, "ports", "p1", "{}"}};
    struct store_change repl[] = {{STORE_PUT, "bridges", "b9", "{\"x\":1}"}};
    struct collected all = {0};
    uint64_t rev;

    assert_int_equal(store_commit(s, old, 2, NULL), 0);
    assert_int_equal(store_replace_all(s, repl, 1, &rev), 0);
    assert_int_equal(store_list(s, NULL, collect, &all), 0);
    assert_int_equal(all.n, 1);
    assert_string_equal(all.ids[0], "b9");
    store_close(s);
}

static void test_list_by_type_returns_only_that_type(void **state)
{
    (void)state;
    struct store *s = open_store();
    struct store_change ch[] = {
        {STORE_PUT, "routers", "r2", "{}"}, {STORE_PUT, "routers", "r1", "{}"},
        {STORE_PUT, "bridges", "b1", "{}"},
    };
    struct collected c = {0};

    assert_int_equal(store_commit(s, ch, 3, NULL), 0);
    assert_int_equal(store_list(s, "routers", collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.ids[0], "r1");
    assert_string_equal(c.ids[1], "r2");
    store_close(s);
}

static void test_invalid_change_is_refused_and_nothing_written(void **state)
{
    (void)state;
    struct store *s = open_store();
    struct store_change ch[] = {{STORE_PUT, "routers", "r1", "{}"}, {STORE_PUT, "ports", "", "{}"}};
    uint64_t rev = 0;
    char *doc;

    assert_int_equal(store_commit(s, ch, 2, NULL), -EINVAL);
    assert_int_equal(store_get(s, "routers", "r1", &doc, NULL), -ENOENT);
    assert_int_equal(store_revision(s, &rev), 0);
    assert_int_equal(rev, 0);
    store_close(s);
}

static void test_port_blocks_never_shared_between_hosts(void **state)
{
    (void)state;
    struct store *s = open_store();
    uint16_t a = 0, b = 0, c = 0;

    /* Range 1024..1215 holds exactly three 64-port blocks. */
    assert_int_equal(store_lease_block(s, "r1", "198.51.100.1", "hostA", 1024, 1215, 60, &a), 0);
    assert_int_equal(store_lease_block(s, "r1", "198.51.100.1", "hostB", 1024, 1215, 60, &b), 0);
    assert_int_equal(store_lease_block(s, "r1", "198.51.100.1", "hostA", 1024, 1215, 60, &c), 0);
    assert_int_not_equal(a, b);
    assert_int_not_equal(a, c);
    assert_int_not_equal(b, c);
    assert_int_equal((a - 1024) % 64, 0);
    assert_int_equal(store_lease_block(s, "r1", "198.51.100.1", "hostB", 1024, 1215, 60, &c),
                     -EADDRNOTAVAIL);
    /* Another address has its own blocks. */
    assert_int_equal(store_lease_block(s, "r1", "198.51.100.2", "hostB", 1024, 1215, 60, &c), 0);
    /* Released blocks can be leased again; renewing another host's block fails. */
    assert_int_equal(store_renew_block(s, "r1", "198.51.100.1", "hostB", a, 60), -ENOENT);
    assert_int_equal(store_renew_block(s, "r1", "198.51.100.1", "hostA", a, 60), 0);
    assert_int_equal(store_release_block(s, "r1", "198.51.100.1", "hostA", a), 0);
    assert_int_equal(store_lease_block(s, "r1", "198.51.100.1", "hostB", 1024, 1215, 60, &c), 0);
    assert_int_equal(c, a);
    store_close(s);
}

static void test_host_heartbeat_makes_host_alive(void **state)
{
    (void)state;
    struct store *s = open_store();
    bool alive = true;

    assert_int_equal(store_host_alive(s, "hv-1", &alive), 0);
    assert_false(alive);
    assert_int_equal(store_host_heartbeat(s, "hv-1", 30), 0);
    assert_int_equal(store_host_alive(s, "hv-1", &alive), 0);
    assert_true(alive);
    store_close(s);
}

static void test_data_survives_reopen(void **state)
{
    (void)state;
    const char *zk = getenv("RAMPART_TEST_ZK");
    struct store_config cfg = {0};
    struct store *s;
    char path[300], *doc = NULL;
    struct store_change ch = {STORE_PUT, "hosts", "h1", "{\"tunnel_ip\":\"10.0.0.1\"}"};

    if (zk && *zk)
        skip();
    snprintf(path, sizeof(path), "%s/reopen.db", tmpdir);
    cfg.backend = STORE_SQLITE;
    cfg.sqlite_path = path;
    assert_int_equal(store_open(&s, &cfg), 0);
    assert_int_equal(store_commit(s, &ch, 1, NULL), 0);
    store_close(s);
    assert_int_equal(store_open(&s, &cfg), 0);
    assert_int_equal(store_get(s, "hosts", "h1", &doc, NULL), 0);
    assert_string_equal(doc, "{\"tunnel_ip\":\"10.0.0.1\"}");
    free(doc);
    store_close(s);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rampart-test-store-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_then_get_returns_document_and_revision),
        cmocka_unit_test(test_batch_commits_all_changes_in_one_revision),
        cmocka_unit_test(test_delete_removes_and_is_logged),
        cmocka_unit_test(test_changes_since_resumes_without_gap_or_repeat),
        cmocka_unit_test(test_changes_page_never_splits_a_revision),
        cmocka_unit_test(test_replace_all_swaps_the_whole_topology_atomically),
        cmocka_unit_test(test_list_by_type_returns_only_that_type),
        cmocka_unit_test(test_invalid_change_is_refused_and_nothing_written),
        cmocka_unit_test(test_port_blocks_never_shared_between_hosts),
        cmocka_unit_test(test_host_heartbeat_makes_host_alive),
        cmocka_unit_test(test_data_survives_reopen),
    };
    return cmocka_run_group_tests_name(getenv("RAMPART_TEST_ZK") ? "store (zookeeper)" : "store (sqlite)",
                                       tests, setup, teardown);
}
