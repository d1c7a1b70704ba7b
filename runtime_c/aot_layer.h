/* aot layer information: what a generated library tells about its layers, for profiling hooks and
 * for reports on the device. Shared by every library (the type is the same whatever the --prefix).
 *
 * <prefix>_layers[<PREFIX>_NUM_LAYERS] (model.h) holds one entry per layer in run order. It is
 * compiled in when the library is built with -DAOT_PROFILE or -D<PREFIX>_LAYER_TABLE, since its
 * names cost flash; without either, referring to it fails at link time. */
#ifndef AOT_LAYER_H
#define AOT_LAYER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aot_layer_info {
    uint64_t macs;       /* multiply-accumulates of one run (elementwise ops: one per output value; 0 for
                            data movement); aot inspect and metadata.json report the same figure */
    const char* name;    /* the layer's name: its ONNX node's, made a C identifier */
    const char* op_type; /* the ONNX operator it computes: "Conv", "Gemm", "Softmax", ... */
    const char* model;   /* the library's prefix (aot compile --prefix): tells models apart in shared hooks */
    int32_t index;       /* its position in the run, 0 .. <PREFIX>_NUM_LAYERS - 1 */
} aot_layer_info;

/* Profiling hooks. A library built with -DAOT_PROFILE calls aot_profile_begin(&<prefix>_layers[i])
 * right before layer i and aot_profile_end with the same pointer right after it; the application
 * defines both (read a cycle counter in them). Without AOT_PROFILE the calls compile to nothing. */
void aot_profile_begin(const aot_layer_info* layer);
void aot_profile_end(const aot_layer_info* layer);

#ifdef __cplusplus
}
#endif

#endif /* AOT_LAYER_H */
