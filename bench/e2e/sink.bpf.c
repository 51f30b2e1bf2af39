/*
 * bench/e2e/sink.bpf.c: the counting sink of the end-to-end benchmark.
 * Attached to the destination veth; counts every frame, and apart the IPv4
 * frames that still carry the generator's source address (a forwarder that
 * did not translate them), then drops them all, so the destination's
 * kernel stack costs nothing. Per-CPU counters: two CPUs delivering at once
 * do not contend.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

volatile const __u32 untranslated_src;     /* network order; set by e2e_tool */

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);                 /* 0: frames, 1: untranslated */
    __type(key, __u32);
    __type(value, __u64);
} sink_count SEC(".maps");

SEC("xdp")
int sink(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    __u8 *p = data;
    __u32 key = 0;
    __u64 *c = bpf_map_lookup_elem(&sink_count, &key);

    if (c)
        (*c)++;
    /* Ethernet type at 12, IPv4 source address at 14 + 12. */
    if (p + 30 <= (__u8 *)end && p[12] == 0x08 && p[13] == 0x00 &&
        *(__u32 *)(p + 26) == untranslated_src) {
        key = 1;
        c = bpf_map_lookup_elem(&sink_count, &key);
        if (c)
            (*c)++;
    }
    return XDP_DROP;
}

char _license[] SEC("license") = "Dual BSD/GPL";
