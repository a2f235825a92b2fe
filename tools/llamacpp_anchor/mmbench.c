// mmbench: time one ggml_mul_mat(A[type, k x m], B[f32, k x n]) on the CPU backend.
// Re-creation of the anchor's bench/mmbench.c from its description (llamacpp-anchor.md §3b):
//  - CPU backend, ggml_backend_cpu_set_n_threads
//  - A in the plain CPU buffer (REPACK=0) or in the CPU_REPACK extra buffer type (REPACK=1),
//    which is what llama.cpp uses for a model load with the default --repack 1
//  - A filled with ggml_quantize_chunk of uniform random values (256 distinct rows tiled over m)
//  - 2 warm-ups, then graph computes timed until >= MIN_SECONDS and >= 3 iterations; median reported
//  - timing includes quantizing the activations to vec_dot_type (done inside the graph compute)
// usage: mmbench TYPE M K N THREADS REPACK(0|1) [MIN_SECONDS]
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void * a, const void * b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static enum ggml_type parse_type(const char * s) {
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char * n = ggml_type_name((enum ggml_type) t);
        if (n && strcmp(n, s) == 0) return (enum ggml_type) t;
    }
    fprintf(stderr, "unknown type %s\n", s);
    exit(1);
}

int main(int argc, char ** argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s TYPE M K N THREADS REPACK(0|1) [MIN_SECONDS]\n", argv[0]);
        return 1;
    }
    const enum ggml_type type = parse_type(argv[1]);
    const int64_t m = atoll(argv[2]), k = atoll(argv[3]), n = atoll(argv[4]);
    const int nth = atoi(argv[5]);
    const int repack = atoi(argv[6]);
    const double min_s = argc > 7 ? atof(argv[7]) : 1.0;

    ggml_backend_t backend = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(backend, nth);

    ggml_backend_buffer_type_t wbuft = ggml_backend_cpu_buffer_type();
    if (repack) {
        ggml_backend_reg_t reg = ggml_backend_cpu_reg();
        ggml_backend_dev_get_extra_bufts_t fn = (ggml_backend_dev_get_extra_bufts_t)
            ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
        wbuft = NULL;
        if (fn) {
            for (ggml_backend_buffer_type_t * p = fn(ggml_backend_reg_dev_get(reg, 0)); p && *p; p++) {
                if (strcmp(ggml_backend_buft_name(*p), "CPU_REPACK") == 0) wbuft = *p;
            }
        }
        if (!wbuft) { fprintf(stderr, "no CPU_REPACK buffer type\n"); return 1; }
    }

    struct ggml_init_params ip = { 16 * ggml_tensor_overhead() + ggml_graph_overhead(), NULL, true };
    struct ggml_context * ctx_w = ggml_init(ip);
    struct ggml_context * ctx_a = ggml_init(ip);
    struct ggml_tensor * A = ggml_new_tensor_2d(ctx_w, type, k, m);
    struct ggml_tensor * B = ggml_new_tensor_2d(ctx_a, GGML_TYPE_F32, k, n);
    struct ggml_tensor * C = ggml_mul_mat(ctx_a, A, B);

    ggml_backend_buffer_t bw = ggml_backend_alloc_ctx_tensors_from_buft(ctx_w, wbuft);
    ggml_backend_buffer_t ba = ggml_backend_alloc_ctx_tensors_from_buft(ctx_a, ggml_backend_cpu_buffer_type());
    if (!bw || !ba) { fprintf(stderr, "alloc failed\n"); return 1; }

    // weights: 256 distinct random rows, quantized, tiled over m
    srand(1234);
    const int64_t nd = m < 256 ? m : 256;
    float * src = malloc(sizeof(float) * nd * k);
    for (int64_t i = 0; i < nd * k; i++) src[i] = 2.0f * rand() / (float) RAND_MAX - 1.0f;
    const size_t rs = ggml_row_size(type, k);
    char * q = malloc(rs * nd);
    if (type == GGML_TYPE_F32) memcpy(q, src, rs * nd);
    else ggml_quantize_chunk(type, src, q, 0, nd, k, NULL);
    char * full = malloc(ggml_nbytes(A));
    for (int64_t r = 0; r < m; r++) memcpy(full + r * rs, q + (r % nd) * rs, rs);
    ggml_backend_tensor_set(A, full, 0, ggml_nbytes(A));  // repack happens here for CPU_REPACK
    free(full); free(q); free(src);

    float * bsrc = malloc(sizeof(float) * n * k);
    for (int64_t i = 0; i < n * k; i++) bsrc[i] = 2.0f * rand() / (float) RAND_MAX - 1.0f;
    ggml_backend_tensor_set(B, bsrc, 0, ggml_nbytes(B));
    free(bsrc);

    struct ggml_cgraph * gf = ggml_new_graph(ctx_a);
    ggml_build_forward_expand(gf, C);

    for (int i = 0; i < 2; i++) ggml_backend_graph_compute(backend, gf);

    int cap = 1 << 20, it = 0;
    double * ts = malloc(sizeof(double) * cap);
    const double t_start = now_s();
    while ((now_s() - t_start < min_s || it < 3) && it < cap) {
        double t0 = now_s();
        ggml_backend_graph_compute(backend, gf);
        ts[it++] = now_s() - t0;
    }
    qsort(ts, it, sizeof(double), cmp_d);
    const double med = ts[it / 2];
    const double flops = 2.0 * m * n * k;
    const double wbytes = (double) ggml_row_size(type, k) * m;
    printf("type=%s buf=%s m=%lld k=%lld n=%lld t=%d iters=%d med_us=%.1f min_us=%.1f max_us=%.1f GFLOPS=%.1f GBps=%.1f\n",
           ggml_type_name(type), ggml_backend_buft_name(wbuft), (long long) m, (long long) k, (long long) n, nth, it,
           med * 1e6, ts[0] * 1e6, ts[it - 1] * 1e6, flops / med * 1e-9, wbytes / med * 1e-9);

    free(ts);
    ggml_backend_buffer_free(bw);
    ggml_backend_buffer_free(ba);
    ggml_free(ctx_w);
    ggml_free(ctx_a);
    ggml_backend_free(backend);
    return 0;
}
