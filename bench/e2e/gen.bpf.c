/*
 * bench/e2e/gen.bpf.c: the traffic source of the end-to-end benchmark.
 *
 * Run by BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on the source veth
 * (e2e_tool gen): every run writes a whole Ethernet/IPv4/UDP header into the
 * frame and returns XDP_TX, so the frame leaves through the veth towards the
 * forwarder. The kernel recycles the frame pages without copying the
 * template again, so nothing may rely on what a previous run left there:
 * every header field is written each time and the IPv4 checksum is computed
 * from scratch (UDP checksum 0, valid for IPv4).
 *
 * With cfg.ns_per_pkt the program paces itself (the kernel's live-frames
 * loop cannot be slowed, and many small BPF_PROG_RUN calls cost a page pool
 * set-up each).
 *
 * Mode 0 cycles the UDP source port over cfg.flows values (a fixed set of
 * flows the forwarder caches after the warm-up); mode 1 makes every packet
 * a new 5-tuple, which no forwarder can have cached: from a sequence that
 * starts at cfg.seq0, the source port changes every packet, the destination
 * port every 64512 packets, and the destination address cycles over
 * cfg.ndst addresses (a divisor of 256; 1: every flow to one destination,
 * the worst case for a SNAT port allocator).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Set by e2e_tool before loading; keep the layout in step with its struct gen_cfg. */
struct gen_cfg {
    __u32 mode;
    __u32 flows;
    __u64 seq0;
    __u8 smac[6], dmac[6];
    __u32 saddr, daddr;             /* network order */
    __u32 ndst;                     /* destination addresses daddr, daddr + 1, ... */
    __u64 ns_per_pkt;               /* pacing; 0: every run sends */
};
volatile const struct gen_cfg cfg = {.flows = 256, .ndst = 1};

/* One CPU runs the program: plain increments. e2e_tool reads 'sent'. */
struct gen_state {
    __u64 sent;
    __u64 runs;
    __u64 credit;
    __u64 last_ns;
} st;

struct hdr {
    __u8 dmac[6], smac[6];
    __be16 eth_type;
    __u8 ver_ihl, tos;
    __be16 tot_len, id, frag_off;
    __u8 ttl, proto;
    __u16 csum;
    __be32 saddr, daddr;
    __be16 sport, dport, ulen;
    __u16 ucsum;
} __attribute__((packed));

SEC("xdp")
int gen(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct hdr *h = data;
    __u64 s;
    __u32 len = (__u32)(end - data), sum = 0;
    __u16 *w;
    __u16 sport, dport;
    __u32 daddr = cfg.daddr;

    if ((void *)(h + 1) > end)
        return XDP_ABORTED;
    /* Pacing: live frames run as fast as the CPU goes; a run without credit
     * drops its frame (cheap: the page is recycled). The clock is read every
     * 64th run only (a kvm clock read costs more than the rest of a run);
     * credit beyond 256 frames (one veth ring: the CPU was taken away) is
     * forgotten rather than sent as one burst. */
    if (cfg.ns_per_pkt) {
        if ((st.runs++ & 63) == 0) {
            __u64 now = bpf_ktime_get_ns(), owed;
            if (!st.last_ns)
                st.last_ns = now;
            owed = (now - st.last_ns) / cfg.ns_per_pkt;
            st.last_ns += owed * cfg.ns_per_pkt;
            st.credit += owed;
            if (st.credit > 256)
                st.credit = 256;
        }
        if (!st.credit)
            return XDP_DROP;
        st.credit--;
    }
    s = st.sent++;
    if (cfg.mode == 0) {
        sport = (__u16)(10000 + s % cfg.flows);
        dport = 5001;
    } else {
        s += cfg.seq0;
        sport = (__u16)(1024 + s % 64512);
        dport = (__u16)(1 + (s / 64512) % 65535);
        /* 256 divides 64512: the address is a function of the source port,
         * so the ports alone keep the 5-tuples distinct. */
        if (cfg.ndst > 1)
            daddr = bpf_htonl(bpf_ntohl(daddr) + (__u32)(s % cfg.ndst));
    }
    for (int i = 0; i < 6; i++) {
        h->dmac[i] = cfg.dmac[i];
        h->smac[i] = cfg.smac[i];
    }
    h->eth_type = bpf_htons(0x0800);
    h->ver_ihl = 0x45;
    h->tos = 0;
    h->tot_len = bpf_htons((__u16)(len - 14));
    h->id = 0;
    h->frag_off = 0;
    h->ttl = 64;
    h->proto = 17;
    h->csum = 0;
    h->saddr = cfg.saddr;
    h->daddr = daddr;
    w = (__u16 *)&h->ver_ihl;
    for (int i = 0; i < 10; i++)
        sum += w[i];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    h->csum = (__u16)~sum;
    h->sport = bpf_htons(sport);
    h->dport = bpf_htons(dport);
    h->ulen = bpf_htons((__u16)(len - 34));
    h->ucsum = 0;
    return XDP_TX;
}

char _license[] SEC("license") = "Dual BSD/GPL";
