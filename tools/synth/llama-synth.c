/* llama-synth.c -- command-line front end of the synthetic llama GGUF writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../plugins/models/llama/ggml_types.h"
#include "synth.h"

static const struct {
    const char *name;
    uint32_t type;
} k_types[] = {
    { "f32", GGML_TYPE_F32 }, { "f16", GGML_TYPE_F16 }, { "bf16", GGML_TYPE_BF16 }, { "q8_0", GGML_TYPE_Q8_0 },
    { "q4_0", GGML_TYPE_Q4_0 }, { "q4_k", GGML_TYPE_Q4_K }, { "q6_k", GGML_TYPE_Q6_K },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: llama-synth OUT.gguf [--preset 260k|15m|110m] [--embd N] [--layers N] [--heads N]\n"
               "         [--kv-heads N] [--ffn N] [--vocab N | --vocab-from FILE.gguf] [--ctx N]\n"
               "         [--type f32|f16|bf16|q8_0|q4_0|q4_k|q6_k] [--arch llama|qwen2|llada|dream]\n"
               "         [--seed N] [--tied] [--non-causal] [--mask ID] [--shift-logits true|false]\n"
               "         [--omit KEY-OR-TENSOR]\n");
}

int main(int argc, char **argv)
{
    synth_opts o = { .arch = "llama", .n_embd = 64, .n_layer = 2, .n_head = 4, .n_ff = 172, .n_vocab = 512,
                     .n_ctx = 512, .type = GGML_TYPE_F32, .seed = 1 };
    synth_extra x = { 0, 0, 0, 0, 0, NULL };
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tied")) {
            o.tied = 1;
            takes = 0;
        } else if (!strcmp(a, "--non-causal")) {
            o.non_causal = 1;
            takes = 0;
        } else if (a[0] != '-') {
            out = a;
            takes = 0;
        } else if (!v) {
            usage(stderr);
            return 2;
        } else if (!strcmp(a, "--preset")) {
            /* shapes of karpathy's tinyllamas checkpoints */
            if (!strcmp(v, "260k"))
                o.n_embd = 64, o.n_layer = 5, o.n_head = 8, o.n_head_kv = 4, o.n_ff = 172, o.n_vocab = 512;
            else if (!strcmp(v, "15m"))
                o.n_embd = 288, o.n_layer = 6, o.n_head = 6, o.n_head_kv = 6, o.n_ff = 768, o.n_vocab = 32000;
            else if (!strcmp(v, "110m"))
                o.n_embd = 768, o.n_layer = 12, o.n_head = 12, o.n_head_kv = 12, o.n_ff = 2048, o.n_vocab = 32000;
            else {
                fprintf(stderr, "llama-synth: unknown preset '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--embd")) o.n_embd = atoi(v);
        else if (!strcmp(a, "--layers")) o.n_layer = atoi(v);
        else if (!strcmp(a, "--heads")) o.n_head = atoi(v);
        else if (!strcmp(a, "--kv-heads")) o.n_head_kv = atoi(v);
        else if (!strcmp(a, "--ffn")) o.n_ff = atoi(v);
        else if (!strcmp(a, "--vocab")) o.n_vocab = atoi(v);
        else if (!strcmp(a, "--vocab-from")) o.vocab_path = v;
        else if (!strcmp(a, "--ctx")) o.n_ctx = atoi(v);
        else if (!strcmp(a, "--arch")) o.arch = v;
        else if (!strcmp(a, "--mask")) x.set_mask = 1, x.mask_token = atoi(v);
        else if (!strcmp(a, "--omit")) x.omit = v;
        else if (!strcmp(a, "--shift-logits") && (!strcmp(v, "true") || !strcmp(v, "false")))
            x.set_shift = 1, x.shift_logits = !strcmp(v, "true");
        else if (!strcmp(a, "--seed")) o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--type")) {
            size_t k = 0;
            while (k < sizeof k_types / sizeof k_types[0] && strcasecmp(k_types[k].name, v))
                k++;
            if (k == sizeof k_types / sizeof k_types[0]) {
                fprintf(stderr, "llama-synth: unknown type '%s'\n", v);
                return 2;
            }
            o.type = k_types[k].type;
        } else {
            fprintf(stderr, "llama-synth: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i += takes;
    }
    if (!out) {
        usage(stderr);
        return 2;
    }
    char err[400];
    if (synth_write_file_ex(out, &o, &x, err, sizeof err)) {
        fprintf(stderr, "llama-synth: %s\n", err);
        return 1;
    }
    return 0;
}
