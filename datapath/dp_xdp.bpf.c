/*
 * datapath/dp_xdp.bpf.c: the XDP program in front of an AF_XDP port.
 *
 * Everything goes to the AF_XDP socket of the receiving queue except what the
 * kernel stack must keep seeing on a port it shares with the datapath (a
 * gateway uplink keeps its kernel address for BGP, BFD and ARP):
 *   - IPv4 to an address in dp_kernel_ipv4, and ARP whose target is one;
 *   - with DP_XDP_F_IPV6_LOCAL, IPv6 to link-local unicast (fe80::/10) and
 *     link-scope multicast (ff02::/16), which carries neighbour discovery.
 * A queue without a socket passes its frames to the kernel rather than
 * dropping them. 802.1Q-tagged frames are not looked into (all redirected).
 *
 * The user side (dp_io_xdp.c) fills the maps; keep names and layouts in step.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define DP_XDP_F_IPV6_LOCAL 0x1u

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} dp_xsks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);     /* IPv4 address, network order */
    __type(value, __u8);
} dp_kernel_ipv4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);   /* DP_XDP_F_* */
} dp_cfg SEC(".maps");

struct dp_eth {
    __u8 dst[6], src[6];
    __be16 type;
} __attribute__((packed));

struct dp_arp {
    __be16 htype, ptype;
    __u8 hlen, plen;
    __be16 op;
    __u8 sha[6];
    __be32 spa;
    __u8 tha[6];
    __be32 tpa;
} __attribute__((packed));

struct dp_ipv4 {
    __u8 ver_ihl, tos;
    __be16 tot_len, id, frag_off;
    __u8 ttl, proto;
    __be16 csum;
    __be32 src, dst;
} __attribute__((packed));

struct dp_ipv6 {
    __be32 vtc_flow;
    __be16 payload_len;
    __u8 next, hop_limit;
    __u8 src[16], dst[16];
} __attribute__((packed));

static __always_inline int to_socket(struct xdp_md *ctx)
{
    return bpf_redirect_map(&dp_xsks, ctx->rx_queue_index, XDP_PASS);
}

static __always_inline int kernel_ipv4(__be32 addr)
{
    __u32 key = addr;

    return bpf_map_lookup_elem(&dp_kernel_ipv4, &key) != NULL;
}

SEC("xdp")
int dp_xdp_redirect(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct dp_eth *eth = data;
    __u32 zero = 0, *flags;

    if ((void *)(eth + 1) > end)
        return to_socket(ctx);
    if (eth->type == bpf_htons(ETH_P_IP)) {
        struct dp_ipv4 *ip = (void *)(eth + 1);

        if ((void *)(ip + 1) <= end && kernel_ipv4(ip->dst))
            return XDP_PASS;
    } else if (eth->type == bpf_htons(ETH_P_ARP)) {
        struct dp_arp *arp = (void *)(eth + 1);

        if ((void *)(arp + 1) <= end && kernel_ipv4(arp->tpa))
            return XDP_PASS;
    } else if (eth->type == bpf_htons(ETH_P_IPV6)) {
        struct dp_ipv6 *ip6 = (void *)(eth + 1);

        flags = bpf_map_lookup_elem(&dp_cfg, &zero);
        if (flags && (*flags & DP_XDP_F_IPV6_LOCAL) && (void *)(ip6 + 1) <= end &&
            ((ip6->dst[0] == 0xfe && (ip6->dst[1] & 0xc0) == 0x80) || (ip6->dst[0] == 0xff && ip6->dst[1] == 0x02)))
            return XDP_PASS;
    }
    return to_socket(ctx);
}

char _license[] SEC("license") = "Dual BSD/GPL";
