/*
 * lib/lib.h: the small shared pieces every other module stands on.
 *
 * lib/ is a toolkit rather than one subsystem, so each piece keeps its own
 * header and prefix and this umbrella header includes them all:
 *   types.h   network-order scalar types, assertions, branch hints
 *   packet.h  wire headers, parsing (one pass, bounds-checked) into a
 *             64-byte flow key, packet building, packet buffer pools (pkt_)
 *   csum.h    internet checksum, full and incremental RFC 1624 (csum_)
 *   hash.h    keyed SipHash and a cache-line-bucket hash table that grows
 *             incrementally (rp_siphash, htab_)
 *   lpm.h     IPv4 longest-prefix match for full Internet tables, with
 *             interned ECMP next-hop sets (lpm_)
 *   timer.h   timer wheel for millions of timers (timer_)
 *   log.h     levelled, rate-limited logging (log_)
 * Nothing in lib/ allocates per packet; tables allocate when they grow.
 */
#ifndef RP_LIB_H
#define RP_LIB_H

#include "lib/types.h"
#include "lib/packet.h"
#include "lib/csum.h"
#include "lib/hash.h"
#include "lib/lpm.h"
#include "lib/timer.h"
#include "lib/log.h"

#endif
