/* check_diffusion_tiny.c -- the bundled tiny diffusion LM through config/diffusion-tiny.yaml:
   what the model reports, complete and deterministic outputs, caches against recomputation,
   readability under the AR target, and the refusals of a diffusion decoder on unfit models. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/models/llama/ggml_types.h"
#include "../plugins/models/llama/llm.h"
#include "../tools/synth/synth.h"
#include "error.h"
#include "harness.h"
#include "loader.h"
#include "pipeline.h"
#include "session.h"

static dk_registry *reg;
static dk_error err;
static char srcdir[1024];

/* Prompts in the style of the training text (Austen, the KJV) and a few outside it. */
static const char *const k_prompts[] = {
    "It was a fine morning, and",
    "Mr. Darcy said that",
    "And God said unto Moses,",
    "She could not help thinking",
    "In the beginning",
    "The family of Dashwood had long been settled in Sussex.",
    "Elizabeth was",
    "Then the king",
};
#define N_PROMPTS ((int)(sizeof k_prompts / sizeof k_prompts[0]))

static void setup(void)
{
    const char *s = getenv("DECOKIT_SRCDIR");
    snprintf(srcdir, sizeof srcdir, "%s", s && *s ? s : ".");
    reg = dkh_registry();
    dk_error_clear(&err);
}

static void teardown(void)
{
    dk_registry_free(reg);
}

typedef struct ran {
    dk_pipeline *p;
    dk_run *run;
    dk_result *r;
} ran;

/* config/diffusion-tiny.yaml with --set style overrides (NULL-terminated) on prompt: the status,
   err holding the message. */
static int run_cfg(const char *const *sets, const char *prompt, ran *out)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/config/diffusion-tiny.yaml", srcdir);
    memset(out, 0, sizeof *out);
    ck_assert_msg(dk_pipeline_load(path, &out->p, &err) == DK_OK, "%s", err.msg);
    for (; sets && *sets; sets++)
        ck_assert_msg(dk_pipeline_override(out->p, *sets, &err) == DK_OK, "%s: %s", *sets, err.msg);
    ck_assert_msg(dk_pipeline_resolve(out->p, reg, NULL, &err) == DK_OK, "%s", err.msg);
    int rc = dk_run_new(out->p, &(dk_run_opts){ .logprobs = -1, .threads = 1 }, &out->run, &err);
    if (rc)
        return rc;
    dk_run_set_prompt(out->run, prompt);
    return dk_run_generate(out->run, &out->r, &err);
}

static void ran_free(ran *x)
{
    dk_result_free(x->r);
    dk_run_free(x->run);
    dk_pipeline_free(x->p);
}

static const dk_completion *run_ok(const char *const *sets, const char *prompt, ran *out)
{
    int rc = run_cfg(sets, prompt, out);
    ck_assert_msg(rc == DK_OK, "'%s': %s", prompt, err.msg);
    ck_assert_uint_eq(out->r->n, 1);
    return &out->r->c[0];
}

START_TEST(test_model_reports_diffusion)
{
    ran x;
    run_ok(NULL, k_prompts[0], &x);
    const dk_model_info *mi = dk_run_model_info(x.run);
    ck_assert_uint_eq(mi->attention, DK_ATTN_BIDIRECTIONAL);
    ck_assert_int_eq(mi->mask, 0);
    ck_assert_int_eq(mi->logit_shift, 1);
    ck_assert_str_eq(mi->arch, "dream");
    /* the AR target's vocabulary, id for id, so the dLLM can draft for it */
    char path[1200], e[512];
    snprintf(path, sizeof path, "%s/models/decokit-tiny.gguf", srcdir);
    llm_model *t = llm_model_load(path, e, sizeof e);
    ck_assert_msg(t != NULL, "%s", e);
    ck_assert_int_eq(mi->n_vocab, llm_model_hparams(t)->n_vocab);
    llm_model_free(t);
    ran_free(&x);
}
END_TEST

static void json_ids(json_t *arr, int32_t **out, size_t *n)
{
    ck_assert_msg(json_is_array(arr), "not an array");
    *n = json_array_size(arr);
    *out = malloc((*n ? *n : 1) * sizeof **out);
    ck_assert_ptr_nonnull(*out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = (int32_t)json_integer_value(json_array_get(arr, i));
}

/* The whole path -- tokenizer, dream forward with its NeoX RoPE and biases, shifted rows, the
   decoder's confidence order -- against torch: tools/train/diffusion.py unmasks the same canvas
   greedily with its own model and writes the ids to models/decokit-tiny-diffusion.json. */
START_TEST(test_matches_torch_unmasking)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/models/decokit-tiny-diffusion.json", srcdir);
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    ck_assert_msg(ref != NULL, "%s: %s", path, je.text);
    int32_t *pids, *ids;
    size_t np, n;
    json_ids(json_object_get(ref, "prompt_ids"), &pids, &np);
    json_ids(json_object_get(ref, "ids"), &ids, &n);
    ck_assert_uint_eq(n, 32);
    const char *sets[] = { "decoder.gen_length=32", "decoder.block_length=32", "decoder.steps=32",
                           "generate.max_tokens=32", NULL };
    ran x;
    const dk_completion *c = run_ok(sets, json_string_value(json_object_get(ref, "prompt")), &x);
    ck_assert_uint_eq(x.r->n_prompt, np);
    ck_assert_mem_eq(x.r->prompt_tokens, pids, np * sizeof *pids);
    ck_assert_uint_eq(c->n_tokens, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(c->tokens[i] == ids[i], "token %zu: %d, torch unmasked %d", i, c->tokens[i], ids[i]);
    /* sentencepiece's decode drops the leading space a continuation keeps */
    ck_assert_str_eq(c->text + (c->text[0] == ' '), json_string_value(json_object_get(ref, "text")));
    ran_free(&x);
    free(pids);
    free(ids);
    json_decref(ref);
}
END_TEST

/* Every position is filled (no mask id is left), the length is the canvas unless an EOS ended
   it, and a second run gives the same tokens. */
START_TEST(test_complete_and_deterministic)
{
    ran a, b;
    const dk_completion *c = run_ok(NULL, k_prompts[_i], &a);
    for (size_t i = 0; i < c->n_tokens; i++)
        ck_assert_msg(c->tokens[i] != 0, "'%s': the mask token is left at %zu", k_prompts[_i], i);
    if (strcmp(c->stop_reason, "eos") != 0)
        ck_assert_uint_eq(c->n_tokens, 64);
    ck_assert_uint_gt(c->n_tokens, 0);
    const dk_completion *d = run_ok(NULL, k_prompts[_i], &b);
    ck_assert_uint_eq(c->n_tokens, d->n_tokens);
    ck_assert_mem_eq(c->tokens, d->tokens, c->n_tokens * sizeof *c->tokens);
    ck_assert_str_eq(c->text, d->text);
    ran_free(&a);
    ran_free(&b);
}
END_TEST

/* Fast-dLLM's prefix and dual caches reuse keys and values computed before the canvas changed:
   on a real bidirectional model that is an approximation (exact on the toy fixture, see
   check_diffusion), so they are held to complete outputs and to agreeing with recomputation on
   most tokens. This model measured 73% (prefix) and 69% (dual) over these prompts; a cache
   that reused wrong rows would fall to chance. */
START_TEST(test_caches_close_to_recomputation)
{
    static const char *const k_caches[] = { "decoder.cache=prefix", "decoder.cache=dual" };
    for (int m = 0; m < 2; m++) {
        size_t same = 0, total = 0;
        for (int k = 0; k < N_PROMPTS; k++) {
            ran a, b;
            const char *sets[] = { k_caches[m], NULL };
            const dk_completion *ref = run_ok(NULL, k_prompts[k], &a);
            const dk_completion *c = run_ok(sets, k_prompts[k], &b);
            ck_assert_uint_eq(c->n_tokens, ref->n_tokens);
            for (size_t i = 0; i < c->n_tokens; i++) {
                ck_assert_msg(c->tokens[i] != 0, "%s: the mask token is left at %zu", k_caches[m], i);
                same += c->tokens[i] == ref->tokens[i];
            }
            total += c->n_tokens;
            ran_free(&a);
            ran_free(&b);
        }
        printf("%s: %zu of %zu tokens as recomputed\n", k_caches[m], same, total);
        ck_assert_msg(same * 2 >= total, "%s: only %zu of %zu tokens agree with recomputation", k_caches[m], same,
                      total);
    }
}
END_TEST

/* Negative log-likelihood (nats, summed) of toks[from..n) under the AR target, each token
   predicted from all before it. */
static double ar_nll(llm_model *t, const int32_t *toks, size_t n, size_t from)
{
    char e[512];
    const int nv = llm_model_hparams(t)->n_vocab;
    llm_ctx *c = llm_ctx_create(t, 1, 0, e, sizeof e);
    ck_assert_msg(c != NULL, "%s", e);
    int32_t s;
    ck_assert_msg(llm_seq_new(c, &s, e, sizeof e) == 0, "%s", e);
    float *lg = malloc(n * (size_t)nv * sizeof *lg);
    ck_assert_ptr_nonnull(lg);
    ck_assert_msg(llm_eval(c, s, toks, n, lg, 1, e, sizeof e) == 0, "%s", e);
    double nll = 0;
    for (size_t i = from; i < n; i++) {
        const float *z = lg + (i - 1) * (size_t)nv;
        double mx = z[0], sum = 0;
        for (int v = 1; v < nv; v++)
            mx = fmax(mx, z[v]);
        for (int v = 0; v < nv; v++)
            sum += exp(z[v] - mx);
        nll += mx + log(sum) - z[toks[i]];
    }
    free(lg);
    llm_ctx_free(c);
    return nll;
}

/* Outputs read as text of the training kind: their perplexity under the AR target stays below a
   bound measured for this model (see models/README.md), while the same tokens shuffled, which
   keep every word but not the order, are far above it. */
#define READABLE_PPL 40.0
START_TEST(test_readable_under_ar_target)
{
    char path[1200], e[512];
    snprintf(path, sizeof path, "%s/models/decokit-tiny.gguf", srcdir);
    llm_model *t = llm_model_load(path, e, sizeof e);
    ck_assert_msg(t != NULL, "%s", e);
    double nll = 0, nll_shuf = 0;
    size_t count = 0;
    for (int k = 0; k < N_PROMPTS; k++) {
        ran x;
        const dk_completion *c = run_ok(NULL, k_prompts[k], &x);
        size_t np = x.r->n_prompt, n = np + c->n_tokens;
        int32_t *toks = malloc(n * sizeof *toks);
        ck_assert_ptr_nonnull(toks);
        memcpy(toks, x.r->prompt_tokens, np * sizeof *toks);
        memcpy(toks + np, c->tokens, c->n_tokens * sizeof *toks);
        nll += ar_nll(t, toks, n, np);
        /* a fixed derangement-like shuffle of the completion */
        unsigned seed = 12345u + (unsigned)k;
        for (size_t i = n - 1; i > np; i--) {
            seed = seed * 1664525u + 1013904223u;
            size_t j = np + (seed >> 8) % (i - np + 1);
            int32_t tmp = toks[i];
            toks[i] = toks[j];
            toks[j] = tmp;
        }
        nll_shuf += ar_nll(t, toks, n, np);
        count += c->n_tokens;
        free(toks);
        ran_free(&x);
    }
    double ppl = exp(nll / (double)count), ppl_shuf = exp(nll_shuf / (double)count);
    printf("diffusion-tiny outputs: %zu tokens, AR-target perplexity %.2f (shuffled %.2f)\n", count, ppl,
           ppl_shuf);
    ck_assert_msg(ppl < READABLE_PPL, "AR-target perplexity of the outputs %.2f, bound %.0f", ppl, READABLE_PPL);
    ck_assert_msg(ppl_shuf > 2 * READABLE_PPL, "shuffled outputs at %.2f: the bound does not separate", ppl_shuf);
    llm_model_free(t);
}
END_TEST

static int has_prefix(gguf_str s, const char *p)
{
    size_t n = strlen(p);
    return s.len >= n && memcmp(s.ptr, p, n) == 0;
}

/* What llama.cpp's dream loader and llama-diffusion-cli read (see models/README.md): only keys it
   defines, every tensor it creates with the shape it asks for, the mask token and the shift. */
START_TEST(test_gguf_has_what_llama_cpp_reads)
{
    char path[1200], e[512];
    snprintf(path, sizeof path, "%s/models/decokit-tiny-diffusion.gguf", srcdir);
    gguf_file *f = gguf_open(path, e, sizeof e);
    ck_assert_msg(f != NULL, "%s", e);
    ck_assert_msg(f->n_warnings == 0, "%s", f->warnings[0]);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_str k = f->kv[i].key;
        ck_assert_msg(has_prefix(k, "general.") || has_prefix(k, "dream.") || has_prefix(k, "tokenizer.ggml.") ||
                          gguf_str_eq(k, "diffusion.shift_logits"),
                      "non-standard key %.*s", (int)k.len, k.ptr);
    }
    gguf_str arch;
    ck_assert_int_eq(gguf_get_str(f, "general.architecture", &arch), 0);
    ck_assert(gguf_str_eq(arch, "dream"));
    uint32_t d, nl, nh, nkv, nff, nrot, mask;
    float eps;
    int shift = 0;
    ck_assert_int_eq(gguf_get_u32(f, "dream.embedding_length", &d), 0);
    ck_assert_int_eq(gguf_get_u32(f, "dream.block_count", &nl), 0);
    ck_assert_int_eq(gguf_get_u32(f, "dream.attention.head_count", &nh), 0);
    ck_assert_int_eq(gguf_get_u32(f, "dream.attention.head_count_kv", &nkv), 0);
    ck_assert_int_eq(gguf_get_u32(f, "dream.feed_forward_length", &nff), 0);
    ck_assert_int_eq(gguf_get_u32(f, "dream.rope.dimension_count", &nrot), 0);
    ck_assert_int_eq(gguf_get_f32(f, "dream.attention.layer_norm_rms_epsilon", &eps), 0);
    ck_assert_int_eq(gguf_get_u32(f, "tokenizer.ggml.mask_token_id", &mask), 0);
    ck_assert_int_eq(gguf_get_bool(f, "diffusion.shift_logits", &shift), 0);
    ck_assert_int_eq(shift, 1);
    ck_assert_uint_eq(nrot, d / nh); /* the dream graph asserts n_rot == head dim */
    const uint64_t hd = d / nh, nv = 1024;
    const struct {
        const char *name;
        uint64_t ne0, ne1;
    } global[] = { { "token_embd.weight", d, nv }, { "output_norm.weight", d, 1 } };
    for (size_t i = 0; i < 2; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, global[i].name);
        ck_assert_msg(t && t->ne[0] == global[i].ne0 && t->ne[1] == global[i].ne1, "%s", global[i].name);
    }
    for (uint32_t l = 0; l < nl; l++) {
        const struct {
            const char *name;
            uint64_t ne0, ne1;
        } want[] = {
            { "attn_norm.weight", d, 1 },       { "attn_q.weight", d, nh * hd },   { "attn_k.weight", d, nkv * hd },
            { "attn_v.weight", d, nkv * hd },   { "attn_q.bias", nh * hd, 1 },     { "attn_k.bias", nkv * hd, 1 },
            { "attn_v.bias", nkv * hd, 1 },     { "attn_output.weight", d, d },    { "ffn_norm.weight", d, 1 },
            { "ffn_gate.weight", d, nff },      { "ffn_up.weight", d, nff },       { "ffn_down.weight", nff, d },
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%u.%s", l, want[i].name);
            const gguf_tensor *t = gguf_find_tensor(f, name);
            ck_assert_msg(t != NULL, "tensor %s missing", name);
            ck_assert_msg(t->type == GGML_TYPE_F32 && t->ne[0] == want[i].ne0 && t->ne[1] == want[i].ne1,
                          "%s: type %u shape [%llu, %llu]", name, t->type, (unsigned long long)t->ne[0],
                          (unsigned long long)t->ne[1]);
        }
    }
    /* 2 global + 12 per layer, nothing llama.cpp would reject as unused */
    ck_assert_uint_eq(f->n_tensors, 2 + 12 * (uint64_t)nl);
    gguf_close(f);
}
END_TEST

START_TEST(test_refuses_unfit_models)
{
    char set[1300], e[512];
    ran x;
    /* the causal AR target */
    snprintf(set, sizeof set, "model.path=%s/models/decokit-tiny.gguf", srcdir);
    const char *sets[] = { set, NULL };
    ck_assert_int_lt(run_cfg(sets, "Hello", &x), 0);
    ck_assert_msg(strstr(err.msg, "is causal") && strstr(err.msg, "attention.causal"), "%s", err.msg);
    ran_free(&x);
    /* a dream file with the target's tokenizer but no mask token */
    synth_opts o = { "dream", 32, 1, 4, 2, 48, 0, 64, 0, 3, 0, 0, 0, 0, 0, NULL };
    char vocab[1200];
    snprintf(vocab, sizeof vocab, "%s/models/decokit-tiny.gguf", srcdir);
    o.vocab_path = vocab;
    const char *file = "check_diffusion_tiny-nomask.gguf";
    ck_assert_msg(synth_write_file(file, &o, e, sizeof e) == 0, "%s", e);
    snprintf(set, sizeof set, "model.path=%s", file);
    ck_assert_int_lt(run_cfg(sets, "Hello", &x), 0);
    ck_assert_msg(strstr(err.msg, "tokenizer.ggml.mask_token_id"), "%s", err.msg);
    ran_free(&x);
    remove(file);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diffusion_tiny");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_model_reports_diffusion);
    tcase_add_test(tc, test_matches_torch_unmasking);
    tcase_add_loop_test(tc, test_complete_and_deterministic, 0, N_PROMPTS);
    tcase_add_test(tc, test_caches_close_to_recomputation);
    tcase_add_test(tc, test_readable_under_ar_target);
    tcase_add_test(tc, test_gguf_has_what_llama_cpp_reads);
    tcase_add_test(tc, test_refuses_unfit_models);
    suite_add_tcase(s, tc);
    return dkh_run(s);
}
