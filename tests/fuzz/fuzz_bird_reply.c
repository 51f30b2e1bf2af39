/*
 * Fuzz BIRD's control-socket replies: arbitrary bytes through the reply
 * parser, and whatever it accepts through the `show protocols` and
 * `show bfd sessions` parsers. The show parsers are public functions over
 * any text, so the raw bytes go through them too. A bad reply must give an
 * error, never a crash, an overread or a leak.
 */
#include "bgp/bgp.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void show_parsers(const char *text, size_t len)
{
    struct bgp_proto_info p[4];
    struct bgp_bfd_session b[4];
    size_t n = 0, nb = 0;

    if (bgp_protocols_parse(text, len, p, 4, &n) == 0 &&
        bgp_bfd_parse(text, len, b, 4, &nb) == 0) {
        for (size_t i = 0; i < n && i < 4; i++) {
            bgp_bfd_apply(&p[i], b, nb < 4 ? nb : 4);
            (void)bgp_state_name(p[i].bgp_state);
            (void)bgp_bfd_state_name(p[i].bfd);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct bgp_reply r;
    size_t off = 0;

    /* Consecutive replies, the way the client sees a stream. */
    for (int i = 0; i < 8 && off <= size; i++) {
        int rc = bgp_reply_parse(buf + off, size - off, &r);
        if (rc)
            break;
        if (r.consumed == 0 || r.consumed > size - off || strlen(r.text) != r.text_len)
            __builtin_trap();
        (void)bgp_reply_has_code(&r, 1002);
        show_parsers(r.text, r.text_len);
        off += r.consumed;
        bgp_reply_free(&r);
    }
    show_parsers(buf, size);
    return 0;
}
