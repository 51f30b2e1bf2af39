/*
 * The store on its own, SQLite with durable commits (the API's baseline):
 * single-resource commits per second and reads per second.
 */
#include "bench/bench_util.h"
#include "store/store.h"

#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    char dir[] = "/tmp/rampart-bench-store-XXXXXX", path[128], id[40], doc[128];
    struct store_config cfg = {.backend = STORE_SQLITE, .sqlite_path = path};
    struct store *s;
    const int N = 3000;
    double t0, tw, tr;
    uint64_t seed = 9, sink = 0;

    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/bench.db", dir);
    if (store_open(&s, &cfg) < 0)
        return 1;
    t0 = bench_now();
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", i);
        snprintf(doc, sizeof(doc), "{\"id\":\"%s\",\"name\":\"c%d\"}", id, i);
        struct store_change ch = {STORE_PUT, "chains", id, doc};
        store_commit(s, &ch, 1, NULL);
    }
    tw = bench_now() - t0;
    t0 = bench_now();
    for (int i = 0; i < N * 10; i++) {
        char *d = NULL;
        snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", (int)(bench_rand(&seed) % N));
        if (store_get(s, "chains", id, &d, NULL) == 0)
            sink += d[2];
        free(d);
    }
    tr = bench_now() - t0;
    printf("store (sqlite, synchronous=FULL): %.0f single-resource commits/s (%.1f us each), %.0f reads/s (%.1f us each), peak RSS %.0f MiB [sink %llu]\n",
           N / tw, tw * 1e6 / N, N * 10 / tr, tr * 1e6 / (N * 10), bench_peak_rss_mib(), (unsigned long long)sink);
    store_close(s);
    snprintf(doc, sizeof(doc), "rm -rf %s", dir);
    return system(doc) == 0 ? 0 : 1;
}
