/*
 * Fuzz target: trace requests (api-model.md "Trace"), the JSON a client
 * sends to POST /v1/trace or feeds `rampartctl trace`, decoded and
 * simulated against the demo cloud (SNAT, a floating IP, two routers).
 * State persists across inputs, as it does in the API server; the answer
 * is printed to /dev/null to run the printer too.
 */
#include "sim/sim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const char topology[] =
    "{\"hosts\":[{\"id\":\"03832518-4405-5e66-ae65-57b8ccc20409\",\"name\":\"gw-a\",\"tunnel_ip\":\"1"
    "72.31.0.1\"},{\"id\":\"46546207-ef2e-5109-a4bb-339cdb5357b1\",\"name\":\"hv-1\",\"tunnel_ip\":\""
    "172.31.0.11\"}],\"routers\":[{\"id\":\"147cc354-f2d9-5725-8ac5-c6bb376698d1\",\"name\":\"provide"
    "r\"},{\"id\":\"a746c0c0-bbdf-58ee-b120-6d24d5de1d5f\",\"name\":\"acme\",\"tenant\":\"acme\",\"in"
    "bound_filter\":\"9037e9c7-5eed-5259-a328-d2963d4a0d51\",\"outbound_filter\":\"d85599ea-b9f3-5e0d"
    "-87a7-5ac47c123b42\"}],\"bridges\":[{\"id\":\"c84fbdfb-b302-5058-b9d0-df7f6e5899e7\",\"name\":\""
    "acme-net\",\"tenant\":\"acme\"}],\"ports\":[{\"id\":\"d6548ef6-e1af-5d8a-929c-0a12e8b9f48f\",\"n"
    "ame\":\"uplink-a\",\"device\":\"147cc354-f2d9-5725-8ac5-c6bb376698d1\",\"mac\":\"02:10:00:00:00:"
    "01\",\"address\":\"192.0.2.2/30\",\"host\":\"03832518-4405-5e66-ae65-57b8ccc20409\",\"interface\""
    ":\"eth1\"},{\"id\":\"deef8a6a-747f-5146-bb55-19fe317268d9\",\"name\":\"prov-acme\",\"device\":\""
    "147cc354-f2d9-5725-8ac5-c6bb376698d1\",\"mac\":\"02:10:00:00:00:02\",\"address\":\"100.64.10.1/2"
    "4\",\"peer\":\"b6280a17-cac2-5aea-9c96-4c885a4a1814\"},{\"id\":\"b6280a17-cac2-5aea-9c96-4c885a4"
    "a1814\",\"name\":\"acme-gw\",\"device\":\"a746c0c0-bbdf-58ee-b120-6d24d5de1d5f\",\"mac\":\"02:20"
    ":00:00:00:01\",\"address\":\"100.64.10.2/24\",\"peer\":\"deef8a6a-747f-5146-bb55-19fe317268d9\"}"
    ",{\"id\":\"3905f96c-047e-5382-8393-743a8ba6b043\",\"name\":\"acme-lan\",\"device\":\"a746c0c0-bb"
    "df-58ee-b120-6d24d5de1d5f\",\"mac\":\"02:20:00:00:00:02\",\"address\":\"10.1.0.1/24\",\"peer\":\""
    "9e91de73-95b9-5edc-b35e-f479621d0494\"},{\"id\":\"9e91de73-95b9-5edc-b35e-f479621d0494\",\"name\""
    ":\"acme-net-r\",\"device\":\"c84fbdfb-b302-5058-b9d0-df7f6e5899e7\",\"peer\":\"3905f96c-047e-538"
    "2-8393-743a8ba6b043\"},{\"id\":\"9ab3dcfe-03b8-5c9c-913e-a680d0871380\",\"name\":\"web1\",\"devi"
    "ce\":\"c84fbdfb-b302-5058-b9d0-df7f6e5899e7\",\"mac\":\"02:30:00:00:00:0a\",\"fixed_ips\":[\"10."
    "1.0.10\"],\"host\":\"46546207-ef2e-5109-a4bb-339cdb5357b1\",\"interface\":\"tap-web1\"},{\"id\":"
    "\"3f0c1d5e-9a51-4b7e-8d0e-5b7f2a1c0d03\",\"name\":\"web2\",\"device\":\"c84fbdfb-b302-5058-b9d0-"
    "df7f6e5899e7\",\"mac\":\"02:30:00:00:00:0b\",\"fixed_ips\":[\"10.1.0.11\"],\"host\":\"46546207-e"
    "f2e-5109-a4bb-339cdb5357b1\",\"interface\":\"tap-web2\"}],\"routes\":[{\"id\":\"0708fe60-a93a-5f"
    "ef-b666-7602284308dd\",\"router\":\"147cc354-f2d9-5725-8ac5-c6bb376698d1\",\"dst\":\"192.0.2.0/3"
    "0\",\"next_hop_port\":\"d6548ef6-e1af-5d8a-929c-0a12e8b9f48f\"},{\"id\":\"b9a5c196-5ebe-52c3-abe"
    "4-77f04baa40fb\",\"router\":\"147cc354-f2d9-5725-8ac5-c6bb376698d1\",\"dst\":\"100.64.10.0/24\","
    "\"next_hop_port\":\"deef8a6a-747f-5146-bb55-19fe317268d9\"},{\"id\":\"5d161a82-2692-5f5a-9f36-75"
    "c125b538b5\",\"router\":\"a746c0c0-bbdf-58ee-b120-6d24d5de1d5f\",\"dst\":\"0.0.0.0/0\",\"next_ho"
    "p_port\":\"b6280a17-cac2-5aea-9c96-4c885a4a1814\",\"next_hop_gateway\":\"100.64.10.1\"},{\"id\":"
    "\"9ca298c4-a70f-5dec-9d8a-d3b1727e7d75\",\"router\":\"a746c0c0-bbdf-58ee-b120-6d24d5de1d5f\",\"d"
    "st\":\"100.64.10.0/24\",\"next_hop_port\":\"b6280a17-cac2-5aea-9c96-4c885a4a1814\"},{\"id\":\"e3"
    "52d704-ace9-5133-ab56-1941ca45070d\",\"router\":\"a746c0c0-bbdf-58ee-b120-6d24d5de1d5f\",\"dst\""
    ":\"10.1.0.0/24\",\"next_hop_port\":\"3905f96c-047e-5382-8393-743a8ba6b043\"},{\"id\":\"3f0c1d5e-"
    "9a51-4b7e-8d0e-5b7f2a1c0d01\",\"router\":\"147cc354-f2d9-5725-8ac5-c6bb376698d1\",\"dst\":\"0.0."
    "0.0/0\",\"next_hop_port\":\"d6548ef6-e1af-5d8a-929c-0a12e8b9f48f\",\"next_hop_gateway\":\"192.0."
    "2.1\"}],\"neighbors\":[{\"id\":\"3f0c1d5e-9a51-4b7e-8d0e-5b7f2a1c0d02\",\"port\":\"d6548ef6-e1af"
    "-5d8a-929c-0a12e8b9f48f\",\"address\":\"192.0.2.1\",\"mac\":\"02:99:00:00:00:01\"}],\"chains\":["
    "{\"id\":\"9037e9c7-5eed-5259-a328-d2963d4a0d51\",\"name\":\"acme-pre\"},{\"id\":\"d85599ea-b9f3-"
    "5e0d-87a7-5ac47c123b42\",\"name\":\"acme-post\"}],\"rules\":[{\"id\":\"cd4dbf56-e8d0-50ee-bddb-1"
    "aafbf295efb\",\"chain\":\"d85599ea-b9f3-5e0d-87a7-5ac47c123b42\",\"position\":1,\"out_ports\":[\""
    "b6280a17-cac2-5aea-9c96-4c885a4a1814\"],\"nw_src\":\"10.1.0.0/24\",\"action\":\"snat\",\"nat_tar"
    "gets\":[{\"address_from\":\"100.64.10.2\",\"address_to\":\"100.64.10.2\",\"port_from\":1024,\"po"
    "rt_to\":65535}]},{\"id\":\"8b3a2d59-fd27-5cac-91fd-bc367127dc8c\",\"chain\":\"9037e9c7-5eed-5259"
    "-a328-d2963d4a0d51\",\"position\":1,\"nw_dst\":\"100.64.10.2/32\",\"action\":\"rev_snat\"}],\"po"
    "rt_groups\":[{\"id\":\"42d0a45f-b3fc-57e6-a9f7-78405612fc4b\",\"name\":\"uplinks\",\"stateful\":"
    "true,\"ports\":[\"d6548ef6-e1af-5d8a-929c-0a12e8b9f48f\"]}],\"ip_groups\":[],\"floating_ips\":[{"
    "\"id\":\"58269225-2cb3-5e65-808f-46a84e809078\",\"address\":\"100.64.10.50\",\"router\":\"147cc3"
    "54-f2d9-5725-8ac5-c6bb376698d1\",\"port\":\"9ab3dcfe-03b8-5c9c-913e-a680d0871380\",\"fixed_ip\":"
    "\"10.1.0.10\"}],\"bgp_peers\":[{\"id\":\"6c6a3627-5a5c-51d7-ad0c-f96569491850\",\"port\":\"d6548"
    "ef6-e1af-5d8a-929c-0a12e8b9f48f\",\"peer_address\":\"192.0.2.1\",\"peer_asn\":64500,\"local_asn\""
    ":64512,\"hold_time\":9,\"keepalive\":3,\"bfd\":true}],\"bgp_networks\":[{\"id\":\"e7a8c131-9c1a-"
    "50bf-9a89-c61007d102e9\",\"router\":\"147cc354-f2d9-5725-8ac5-c6bb376698d1\",\"prefix\":\"100.64"
    ".10.0/24\"}]}";

static struct sim_topo *topo;
static struct sim_state *state;
static FILE *sink;
static uint64_t now_ns;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_error err;
    json_t *req, *resp = NULL;

    if (!topo) {
        json_t *doc = json_loads(topology, 0, NULL);
        if (!doc || sim_topo_create(&topo) < 0 || sim_state_create(&state, NULL) < 0 ||
            sim_topo_load(topo, doc, &err) < 0)
            abort();
        json_decref(doc);
        sink = fopen("/dev/null", "w");
    }
    req = json_loadb((const char *)data, size, 0, NULL);
    if (!req)
        return 0;
    now_ns += 1000000000ull;
    if (sim_trace_json(topo, state, req, now_ns, &resp, &err) == 0) {
        sim_trace_print(topo, req, resp, sink);
        json_decref(resp);
    }
    json_decref(req);
    return 0;
}
