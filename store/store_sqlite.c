/*
 * store/store_sqlite.c: the embedded default backend.
 *
 * One SQLite file in WAL mode with synchronous=FULL, so a commit that
 * returned has reached the disk and survives the process being killed.
 * Tables:
 *   resources(type, id, doc, rev)     the current topology
 *   changes(rev, type, id, op, doc)   the change log the watch stream reads
 *   meta(key, value)                  the revision counter
 *   blocks(router, addr, first, host, expires)   NAT port-block leases
 *   hosts(id, expires)                liveness heartbeats
 * Every write runs in one BEGIN IMMEDIATE transaction: all or nothing.
 */
#include "store/store_impl.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sqlite_store {
    sqlite3 *db;
};

static const char *const schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "PRAGMA foreign_keys=OFF;"
    "CREATE TABLE IF NOT EXISTS resources(type TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
    " rev INTEGER NOT NULL, PRIMARY KEY(type, id));"
    "CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, rev INTEGER NOT NULL,"
    " type TEXT NOT NULL, id TEXT NOT NULL, op INTEGER NOT NULL, doc TEXT);"
    "CREATE INDEX IF NOT EXISTS changes_rev ON changes(rev);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('revision', 0);"
    "INSERT OR IGNORE INTO meta VALUES('trimmed', 0);"
    "CREATE TABLE IF NOT EXISTS blocks(router TEXT NOT NULL, addr TEXT NOT NULL, first INTEGER NOT NULL,"
    " host TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY(router, addr, first));"
    "CREATE TABLE IF NOT EXISTS hosts(id TEXT PRIMARY KEY, expires INTEGER NOT NULL);";

static struct sqlite_store *impl(struct store *s)
{
    return s->impl;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int sq_err(int rc)
{
    switch (rc) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    default:
        return -EIO;
    }
}

static int exec(sqlite3 *db, const char *sql)
{
    return sq_err(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

static int sqlite_open(struct store *s, const struct store_config *cfg)
{
    struct sqlite_store *st;
    int rc;

    if (!cfg->sqlite_path || !*cfg->sqlite_path)
        return -EINVAL;
    st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    rc = sqlite3_open_v2(cfg->sqlite_path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = -EIO;
        goto err_close;
    }
    sqlite3_busy_timeout(st->db, 5000);
    rc = exec(st->db, schema);
    if (rc < 0)
        goto err_close;
    s->impl = st;
    return 0;

err_close:
    sqlite3_close(st->db);
    free(st);
    return rc;
}

static void sqlite_close(struct store *s)
{
    struct sqlite_store *st = impl(s);

    if (!st)
        return;
    sqlite3_close(st->db);
    free(st);
    s->impl = NULL;
}

static int get_meta(sqlite3 *db, const char *key, uint64_t *out)
{
    sqlite3_stmt *q;
    int rc;

    rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key=?", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    *out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(q, 0) : 0;
    rc = rc == SQLITE_ROW ? 0 : sq_err(rc);
    sqlite3_finalize(q);
    return rc;
}

static int set_meta(sqlite3 *db, const char *key, uint64_t value)
{
    sqlite3_stmt *q;
    int rc;

    rc = sqlite3_prepare_v2(db, "UPDATE meta SET value=? WHERE key=?", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)value);
    sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
    rc = sq_err(sqlite3_step(q));
    sqlite3_finalize(q);
    return rc;
}

/* Log a deletion of every current resource (import replaces everything). */
static int log_delete_all(sqlite3 *db, uint64_t rev)
{
    sqlite3_stmt *q;
    int rc;

    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO changes(rev, type, id, op, doc)"
                            " SELECT ?, type, id, 1, NULL FROM resources ORDER BY type, id",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)rev);
    rc = sq_err(sqlite3_step(q));
    sqlite3_finalize(q);
    if (rc == 0)
        rc = exec(db, "DELETE FROM resources");
    return rc;
}

static int apply_one(sqlite3_stmt *put, sqlite3_stmt *del, sqlite3_stmt *logq,
                     const struct store_change *c, uint64_t rev)
{
    sqlite3_stmt *q = c->op == STORE_PUT ? put : del;
    int rc;

    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, c->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, c->id, -1, SQLITE_STATIC);
    if (c->op == STORE_PUT) {
        sqlite3_bind_text(q, 3, c->doc, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, (sqlite3_int64)rev);
    }
    rc = sq_err(sqlite3_step(q));
    if (rc < 0)
        return rc;
    sqlite3_reset(logq);
    sqlite3_bind_int64(logq, 1, (sqlite3_int64)rev);
    sqlite3_bind_text(logq, 2, c->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(logq, 3, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(logq, 4, c->op == STORE_PUT ? 0 : 1);
    if (c->op == STORE_PUT)
        sqlite3_bind_text(logq, 5, c->doc, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(logq, 5);
    return sq_err(sqlite3_step(logq));
}

/* Keep the change log bounded: trim the oldest entries past STORE_LOG_KEEP
 * and remember up to which revision history is gone. */
static int trim_log(sqlite3 *db)
{
    sqlite3_stmt *q;
    int64_t cut = -1;
    int rc;

    rc = sqlite3_prepare_v2(db, "SELECT rev FROM changes ORDER BY seq DESC LIMIT 1 OFFSET ?", -1, &q,
                            NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_int(q, 1, STORE_LOG_KEEP);
    if (sqlite3_step(q) == SQLITE_ROW)
        cut = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (cut < 0)
        return 0;
    rc = sqlite3_prepare_v2(db, "DELETE FROM changes WHERE rev <= ?", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_int64(q, 1, cut);
    rc = sq_err(sqlite3_step(q));
    sqlite3_finalize(q);
    return rc ? rc : set_meta(db, "trimmed", (uint64_t)cut);
}

static int sqlite_commit(struct store *s, const struct store_change *changes, size_t n,
                         bool replace_all, uint64_t *rev_out)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *put = NULL, *del = NULL, *logq = NULL;
    uint64_t rev;
    int rc;

    rc = exec(db, "BEGIN IMMEDIATE");
    if (rc < 0)
        return rc;
    rc = get_meta(db, "revision", &rev);
    if (rc < 0)
        goto rollback;
    rev++;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO resources(type, id, doc, rev) VALUES(?,?,?,?)",
                           -1, &put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM resources WHERE type=? AND id=?", -1, &del, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO changes(rev, type, id, op, doc) VALUES(?,?,?,?,?)", -1,
                           &logq, NULL) != SQLITE_OK) {
        rc = -EIO;
        goto rollback;
    }
    if (replace_all) {
        rc = log_delete_all(db, rev);
        if (rc < 0)
            goto rollback;
    }
    for (size_t i = 0; i < n; i++) {
        rc = apply_one(put, del, logq, &changes[i], rev);
        if (rc < 0)
            goto rollback;
    }
    rc = set_meta(db, "revision", rev);
    if (rc < 0)
        goto rollback;
    rc = trim_log(db);
    if (rc < 0)
        goto rollback;
    rc = exec(db, "COMMIT");
    if (rc < 0)
        goto rollback;
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    sqlite3_finalize(logq);
    if (rev_out)
        *rev_out = rev;
    return 0;

rollback:
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    sqlite3_finalize(logq);
    exec(db, "ROLLBACK");
    return rc;
}

static int sqlite_list(struct store *s, const char *type, store_record_cb cb, void *arg)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *q;
    int rc;

    rc = sqlite3_prepare_v2(db,
                            type ? "SELECT type, id, doc, rev FROM resources WHERE type=? ORDER BY id"
                                 : "SELECT type, id, doc, rev FROM resources ORDER BY type, id",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    if (type)
        sqlite3_bind_text(q, 1, type, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_record r = {
            .rev = (uint64_t)sqlite3_column_int64(q, 3),
            .op = STORE_PUT,
            .type = (const char *)sqlite3_column_text(q, 0),
            .id = (const char *)sqlite3_column_text(q, 1),
            .doc = (const char *)sqlite3_column_text(q, 2),
        };
        int crc = cb(&r, arg);
        if (crc) {
            sqlite3_finalize(q);
            return crc;
        }
    }
    rc = sq_err(rc);
    sqlite3_finalize(q);
    return rc;
}

static int sqlite_get(struct store *s, const char *type, const char *id, char **doc_out,
                      uint64_t *rev_out)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *q;
    int rc;

    rc = sqlite3_prepare_v2(db, "SELECT doc, rev FROM resources WHERE type=? AND id=?", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_text(q, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *doc_out = strdup((const char *)sqlite3_column_text(q, 0));
        if (rev_out)
            *rev_out = (uint64_t)sqlite3_column_int64(q, 1);
        rc = *doc_out ? 0 : -ENOMEM;
    } else {
        rc = rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
    }
    sqlite3_finalize(q);
    return rc;
}

static int sqlite_revision(struct store *s, uint64_t *rev_out)
{
    return get_meta(impl(s)->db, "revision", rev_out);
}

static int sqlite_changes_since(struct store *s, uint64_t since, size_t max, store_record_cb cb,
                                void *arg, bool *more)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *q;
    uint64_t trimmed, last_rev = 0;
    size_t seen = 0;
    int rc;

    rc = get_meta(db, "trimmed", &trimmed);
    if (rc < 0)
        return rc;
    if (since < trimmed)
        return -ERANGE;
    rc = sqlite3_prepare_v2(db,
                            "SELECT rev, type, id, op, doc FROM changes WHERE rev > ? ORDER BY seq",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)since);
    if (more)
        *more = false;
    /* Whole revisions only: a reader resuming from the last revision it saw
     * must not miss the rest of a batch, so a page ends between revisions. */
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (seen >= max && (uint64_t)sqlite3_column_int64(q, 0) != last_rev) {
            if (more)
                *more = true;
            rc = SQLITE_DONE;
            break;
        }
        struct store_record r = {
            .rev = (uint64_t)sqlite3_column_int64(q, 0),
            .type = (const char *)sqlite3_column_text(q, 1),
            .id = (const char *)sqlite3_column_text(q, 2),
            .op = sqlite3_column_int(q, 3) ? STORE_DEL : STORE_PUT,
            .doc = (const char *)sqlite3_column_text(q, 4),
        };
        int crc = cb(&r, arg);
        seen++;
        last_rev = r.rev;
        if (crc) {
            sqlite3_finalize(q);
            return crc;
        }
    }
    rc = sq_err(rc);
    sqlite3_finalize(q);
    return rc;
}

/* Lease the lowest block nobody holds, or one whose lease has expired. */
static int sqlite_lease_block(struct store *s, const char *router_id, const char *addr,
                              const char *host_id, uint16_t port_from, uint16_t port_to,
                              uint32_t ttl_s, uint16_t *first_out)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *q = NULL, *w = NULL;
    int64_t now = now_s();
    int rc;

    rc = exec(db, "BEGIN IMMEDIATE");
    if (rc < 0)
        return rc;
    if (sqlite3_prepare_v2(db,
                           "SELECT host, expires FROM blocks WHERE router=? AND addr=? AND first=?",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO blocks VALUES(?,?,?,?,?)", -1, &w, NULL) !=
            SQLITE_OK) {
        rc = -EIO;
        goto out;
    }
    rc = -EADDRNOTAVAIL;
    for (uint32_t first = port_from; first + STORE_BLOCK_PORTS - 1 <= port_to;
         first += STORE_BLOCK_PORTS) {
        bool free_block;

        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, router_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, addr, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 3, (int)first);
        free_block = sqlite3_step(q) != SQLITE_ROW || sqlite3_column_int64(q, 1) <= now;
        if (!free_block)
            continue;
        sqlite3_reset(w);
        sqlite3_bind_text(w, 1, router_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(w, 2, addr, -1, SQLITE_STATIC);
        sqlite3_bind_int(w, 3, (int)first);
        sqlite3_bind_text(w, 4, host_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(w, 5, now + ttl_s);
        rc = sq_err(sqlite3_step(w));
        if (rc == 0)
            *first_out = (uint16_t)first;
        break;
    }
out:
    sqlite3_finalize(q);
    sqlite3_finalize(w);
    if (rc == 0)
        rc = exec(db, "COMMIT");
    else
        exec(db, "ROLLBACK");
    return rc;
}

static int block_update(struct store *s, const char *sql, const char *router_id, const char *addr,
                        const char *host_id, uint16_t first, int64_t expires)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *q;
    int rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_text(q, 1, router_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, addr, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, first);
    sqlite3_bind_text(q, 4, host_id, -1, SQLITE_STATIC);
    if (expires)
        sqlite3_bind_int64(q, 5, expires);
    rc = sq_err(sqlite3_step(q));
    if (rc == 0 && sqlite3_changes(db) == 0)
        rc = -ENOENT;
    sqlite3_finalize(q);
    return rc;
}

static int sqlite_renew_block(struct store *s, const char *router_id, const char *addr,
                              const char *host_id, uint16_t first, uint32_t ttl_s)
{
    return block_update(s,
                        "UPDATE blocks SET expires=?5 WHERE router=?1 AND addr=?2 AND first=?3"
                        " AND host=?4",
                        router_id, addr, host_id, first, now_s() + ttl_s);
}

static int sqlite_release_block(struct store *s, const char *router_id, const char *addr,
                                const char *host_id, uint16_t first)
{
    return block_update(s, "DELETE FROM blocks WHERE router=?1 AND addr=?2 AND first=?3 AND host=?4",
                        router_id, addr, host_id, first, 0);
}

static int sqlite_host_heartbeat(struct store *s, const char *host_id, uint32_t ttl_s)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *q;
    int rc;

    rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO hosts VALUES(?, ?)", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_text(q, 1, host_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now_s() + ttl_s);
    rc = sq_err(sqlite3_step(q));
    sqlite3_finalize(q);
    return rc;
}

static int sqlite_host_alive(struct store *s, const char *host_id, bool *alive)
{
    sqlite3 *db = impl(s)->db;
    sqlite3_stmt *q;
    int rc;

    rc = sqlite3_prepare_v2(db, "SELECT expires FROM hosts WHERE id=?", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_err(rc);
    sqlite3_bind_text(q, 1, host_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    *alive = rc == SQLITE_ROW && sqlite3_column_int64(q, 0) > now_s();
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(rc);
    sqlite3_finalize(q);
    return rc;
}

const struct store_backend_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .commit = sqlite_commit,
    .list = sqlite_list,
    .get = sqlite_get,
    .revision = sqlite_revision,
    .changes_since = sqlite_changes_since,
    .lease_block = sqlite_lease_block,
    .renew_block = sqlite_renew_block,
    .release_block = sqlite_release_block,
    .host_heartbeat = sqlite_host_heartbeat,
    .host_alive = sqlite_host_alive,
};
