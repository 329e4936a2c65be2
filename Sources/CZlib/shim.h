#ifndef PYNOMALY_CZLIB_SHIM_H
#define PYNOMALY_CZLIB_SHIM_H
#include <zlib.h>

// deflateInit2 and inflateInit2 are function-like macros, which Swift cannot call.
static inline int czlib_deflate_init(z_stream *s, int level, int window_bits, int mem_level) {
    return deflateInit2(s, level, Z_DEFLATED, window_bits, mem_level, Z_DEFAULT_STRATEGY);
}
static inline int czlib_inflate_init(z_stream *s, int window_bits) { return inflateInit2(s, window_bits); }

#endif
