/*
 * Fuzz the packet parser: any bytes as an Ethernet frame, and as the UDP
 * payload of a VXLAN packet whose inner frame is then parsed too.
 */
#include "lib/packet.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flow_key k;
    struct pkt_layout l;
    uint32_t vni, ofs;
    enum pkt_err e;

    e = flow_key_extract(data, (uint32_t)size, 1, &k, &l);
    if ((unsigned)e >= PKT_ERR_COUNT)
        abort();
    /* Offsets the parser hands out must lie inside the frame. */
    if (e == PKT_OK && (l.l3_ofs > size || l.l4_ofs > size || l.payload_ofs > size || l.inner_l3_ofs > size ||
                        l.inner_l4_ofs > size || (l.l4_ofs && l.l4_ofs + l.l4_len > size)))
        abort();
    if (pkt_vxlan_decap(data, (uint32_t)size, &vni, &ofs) == PKT_OK) {
        if (vni > 0xffffff || ofs > size)
            abort();
        flow_key_extract(data + ofs, (uint32_t)(size - ofs), vni, &k, &l);
    }
    return 0;
}
