#!/usr/bin/env bash
# gateway_bgp.sh again, with the gateway's uplink on AF_XDP (its XDP program
# passes the kernel's addresses, ARP and IPv6 link-local to the kernel; the
# rest goes to the datapath) instead of AF_PACKET and an nftables filter.
cd "$(dirname "$0")" && CLOUD_GW_BACKEND=xdp exec ./gateway_bgp.sh "$@"
