#!/usr/bin/python3
"""The demo cloud's topology, as an export document (api-model.md).

topology.py UNDERLAY_PREFIX [GATEWAYS]   e.g. 10.250.0  (gateways .1 .2, hypervisor .11)

A provider router with one BGP uplink on the gateway host gw1 (NIC up0,
10.99.0.2/30, towards the upstream router at 10.99.0.1, AS 65000), announcing
203.0.113.0/24; tenant "alpha" (router alpha, network 10.1.0.0/24, VM vm1) goes
out through SNAT to 203.0.113.1; tenant "beta" (router beta, network
10.2.0.0/24, VM vm2) has the floating IP 203.0.113.20. Both VMs run on hv1.
Resources are named and refer to each other by name; the API gives ids.
With GATEWAYS 2, a second gateway gw2 (NIC up0, 10.99.1.2/30, upstream
10.99.1.1) shares the work: a default route through each uplink (ECMP), both
uplinks in the stateful port group "uplinks" (NAT state goes to both), a BGP
peer on each.
"""
import json, sys

u = sys.argv[1] if len(sys.argv) > 1 else "10.250.0"
gateways = int(sys.argv[2]) if len(sys.argv) > 2 else 1

def port(name, device, **kw):
    return dict(name=name, device=device, **kw)

doc = {
    "hosts": [{"name": "gw1", "tunnel_ip": u + ".1"}, {"name": "hv1", "tunnel_ip": u + ".11"}],
    "routers": [{"name": "provider"}, {"name": "alpha", "tenant": "alpha", "inbound_filter": "alpha-in",
                                       "outbound_filter": "alpha-out"},
                {"name": "beta", "tenant": "beta"}],
    "bridges": [{"name": "net-alpha", "tenant": "alpha"}, {"name": "net-beta", "tenant": "beta"}],
    "chains": [{"name": "alpha-in"}, {"name": "alpha-out"}],
    "ports": [
        port("uplink", "provider", mac="02:10:00:00:00:01", address="10.99.0.2/30", host="gw1", interface="up0"),
        port("prov-alpha", "provider", mac="02:10:00:00:01:01", address="100.64.1.1/30", peer="alpha-up"),
        port("prov-beta", "provider", mac="02:10:00:00:02:01", address="100.64.2.1/30", peer="beta-up"),
        port("alpha-up", "alpha", mac="02:20:00:00:01:01", address="100.64.1.2/30", peer="prov-alpha"),
        port("alpha-lan", "alpha", mac="02:20:00:00:01:02", address="10.1.0.1/24", peer="net-alpha-r"),
        port("net-alpha-r", "net-alpha", peer="alpha-lan"),
        port("vm1", "net-alpha", mac="02:30:00:00:01:0a", fixed_ips=["10.1.0.10"], host="hv1", interface="vm1"),
        port("beta-up", "beta", mac="02:20:00:00:02:01", address="100.64.2.2/30", peer="prov-beta"),
        port("beta-lan", "beta", mac="02:20:00:00:02:02", address="10.2.0.1/24", peer="net-beta-r"),
        port("net-beta-r", "net-beta", peer="beta-lan"),
        port("vm2", "net-beta", mac="02:30:00:00:02:0a", fixed_ips=["10.2.0.10"], host="hv1", interface="vm2"),
    ],
    "routes": [
        {"name": "default-up", "router": "provider", "dst": "0.0.0.0/0", "next_hop_port": "uplink",
         "next_hop_gateway": "10.99.0.1"},
        {"name": "alpha-snat", "router": "provider", "dst": "203.0.113.1/32", "next_hop_port": "prov-alpha",
         "next_hop_gateway": "100.64.1.2"},
        {"name": "alpha-default", "router": "alpha", "dst": "0.0.0.0/0", "next_hop_port": "alpha-up",
         "next_hop_gateway": "100.64.1.1"},
        # what comes for the SNAT address without a binding (a stray or late
        # packet) ends here instead of going back out by the default route
        {"name": "alpha-snat-sink", "router": "alpha", "dst": "203.0.113.1/32", "type": "blackhole"},
        {"name": "beta-default", "router": "beta", "dst": "0.0.0.0/0", "next_hop_port": "beta-up",
         "next_hop_gateway": "100.64.2.1"},
    ],
    "rules": [
        {"chain": "alpha-out", "position": 1, "out_ports": ["alpha-up"], "nw_src": "10.1.0.0/24", "action": "snat",
         "nat_targets": [{"address_from": "203.0.113.1", "address_to": "203.0.113.1", "port_from": 1024,
                          "port_to": 65535}]},
        {"chain": "alpha-in", "position": 1, "nw_dst": "203.0.113.1/32", "action": "rev_snat"},
    ],
    "port_groups": [{"name": "uplinks", "stateful": True, "ports": ["uplink"]}],
    "floating_ips": [{"address": "203.0.113.20", "router": "provider", "port": "vm2", "fixed_ip": "10.2.0.10"}],
    "bgp_peers": [{"port": "uplink", "peer_address": "10.99.0.1", "peer_asn": 65000, "local_asn": 64512,
                   "hold_time": 9, "keepalive": 3, "bfd": True}],
    "bgp_networks": [{"router": "provider", "prefix": "203.0.113.0/24"}],
}
if gateways > 1:
    doc["hosts"].insert(1, {"name": "gw2", "tunnel_ip": u + ".2"})
    doc["ports"].insert(1, port("uplink2", "provider", mac="02:10:00:00:00:02", address="10.99.1.2/30", host="gw2",
                                interface="up0"))
    doc["routes"].insert(1, {"name": "default-up2", "router": "provider", "dst": "0.0.0.0/0",
                             "next_hop_port": "uplink2", "next_hop_gateway": "10.99.1.1"})
    doc["port_groups"][0]["ports"].append("uplink2")
    doc["bgp_peers"].append({"port": "uplink2", "peer_address": "10.99.1.1", "peer_asn": 65000, "local_asn": 64512,
                             "hold_time": 9, "keepalive": 3, "bfd": True})
json.dump(doc, sys.stdout, indent=1)
print()
