/* llama.c -- the `llama` model plugin: glue between the decokit model ABI and the engine. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decokit/plugin.h"
#include "describe.h"
#include "gguf.h"
#include "llm.h"
#include "vocab.h"

#define ERRLEN 512

/* What the instances made from one load by clone_shared share, all read-only after create: the
   mapped weights and the vocabulary. The last instance destroyed frees them. */
typedef struct llama_shared {
    atomic_int refs;
    llm_model *model; /* NULL in vocab-only mode */
    gguf_file *file;  /* vocab-only mode: the file the vocabulary reads from */
    llm_vocab *vocab; /* NULL when the file carries no tokenizer */
    char arch[64];    /* vocab-only mode: general.architecture, any value */
    dk_token mask;
    char *path; /* as given, for describe */
} llama_shared;

typedef struct llama_inst {
    const dk_host *host;
    llama_shared *sh;
    llm_ctx *ctx;
    int n_threads;
    char err[ERRLEN];
} llama_inst;

static const dk_param_spec k_params[] = {
    { "path", DK_PARAM_PATH, DK_PARAM_REQUIRED, NULL, 0, 0, "The GGUF file to load (memory-mapped)." },
    { "n_ctx", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "0", 0, 16777216,
      "Maximum positions per sequence; 0 uses the context length in the file's metadata." },
    { "vocab_only", DK_PARAM_BOOL, 0, "false", 0, 0,
      "Load only the tokenizer: any architecture, no tensors needed (llama.cpp's ggml-vocab-*.gguf files); "
      "tokenize, detokenize, pieces and info work, evaluation is refused." },
    { NULL, 0, 0, NULL, 0, 0, NULL },
};

static void shared_release(llama_shared *sh)
{
    if (!sh || atomic_fetch_sub(&sh->refs, 1) != 1)
        return;
    llm_vocab_free(sh->vocab);
    llm_model_free(sh->model);
    gguf_close(sh->file);
    free(sh->path);
    free(sh);
}

static void llama_destroy(void *p)
{
    llama_inst *li = p;
    if (!li)
        return;
    llm_ctx_free(li->ctx);
    shared_release(li->sh);
    free(li);
}

static int fail(llama_inst *li, dk_error *err, int rc)
{
    return li->host->set_error(err, rc, "%s", li->err);
}

/* The vocabulary alone: the file's architecture may be one the engine cannot run. */
static int create_vocab_only(llama_inst *li, const char *path, dk_error *err)
{
    llama_shared *sh = li->sh;
    sh->file = gguf_open(path, li->err, sizeof li->err);
    if (!sh->file)
        return fail(li, err, strstr(li->err, "No such file") || strstr(li->err, "Permission") ? DK_ERR_IO
                                                                                               : DK_ERR_FORMAT);
    gguf_str arch;
    snprintf(sh->arch, sizeof sh->arch, "unknown");
    if (gguf_get_str(sh->file, "general.architecture", &arch) == 0)
        snprintf(sh->arch, sizeof sh->arch, "%.*s", (int)(arch.len < 63 ? arch.len : 63), arch.ptr);
    if (!gguf_find(sh->file, "tokenizer.ggml.tokens"))
        return li->host->set_error(err, DK_ERR_FORMAT, "%s: no tokenizer (key 'tokenizer.ggml.tokens' missing)",
                                   path);
    sh->vocab = llm_vocab_load(sh->file, li->err, sizeof li->err);
    if (!sh->vocab)
        return li->host->set_error(err, DK_ERR_FORMAT, "%s: tokenizer: %s", path, li->err);
    const char *w = llm_vocab_warnings(sh->vocab);
    if (w && *w)
        li->host->log(li->host, DK_LOG_WARN, "%s: tokenizer: %s", path, w);
    sh->mask = -1;
    return DK_OK;
}

static int llama_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err)
{
    const char *path = host->cfg_string(ci->config, "path");
    int64_t n_ctx = host->cfg_int(ci->config, "n_ctx");
    llama_inst *li = calloc(1, sizeof *li);
    llama_shared *sh = calloc(1, sizeof *sh);
    if (!li || !sh) {
        free(li);
        free(sh);
        return host->set_error(err, DK_ERR_NOMEM, "out of memory");
    }
    atomic_init(&sh->refs, 1);
    li->host = host;
    li->sh = sh;
    li->n_threads = ci->n_threads > 0 ? ci->n_threads : 1;
    if (!path) {
        llama_destroy(li);
        return host->set_error(err, DK_ERR_INVALID, "llama: 'path' is required");
    }
    sh->path = malloc(strlen(path) + 1);
    if (!sh->path) {
        llama_destroy(li);
        return host->set_error(err, DK_ERR_NOMEM, "out of memory");
    }
    memcpy(sh->path, path, strlen(path) + 1);
    /* a minimal host without the bool accessor cannot have set the parameter */
    if (host->cfg_bool && host->cfg_bool(ci->config, "vocab_only")) {
        int r = create_vocab_only(li, path, err);
        if (r) {
            llama_destroy(li);
            return r;
        }
        *inst = li;
        return DK_OK;
    }
    sh->model = llm_model_load(path, li->err, sizeof li->err);
    if (!sh->model) {
        int rc = strstr(li->err, "No such file") || strstr(li->err, "Permission") ? DK_ERR_IO : DK_ERR_FORMAT;
        int r = fail(li, err, rc);
        llama_destroy(li);
        return r;
    }
    for (int i = 0; i < llm_model_n_warnings(sh->model); i++)
        host->log(host, DK_LOG_WARN, "%s: %s", path, llm_model_warning(sh->model, i));
    const gguf_file *f = llm_model_gguf(sh->model);
    if (gguf_find(f, "tokenizer.ggml.tokens")) {
        sh->vocab = llm_vocab_load(f, li->err, sizeof li->err);
        if (!sh->vocab) {
            int r = host->set_error(err, DK_ERR_FORMAT, "%s: tokenizer: %s", path, li->err);
            llama_destroy(li);
            return r;
        }
        const char *w = llm_vocab_warnings(sh->vocab);
        if (w && *w)
            host->log(host, DK_LOG_WARN, "%s: tokenizer: %s", path, w);
    }
    li->ctx = llm_ctx_create(sh->model, li->n_threads, (int)n_ctx, li->err, sizeof li->err);
    if (!li->ctx) {
        int r = fail(li, err, DK_ERR_NOMEM);
        llama_destroy(li);
        return r;
    }
    uint32_t mask;
    sh->mask = -1;
    if (gguf_get_u32(f, "tokenizer.ggml.mask_token_id", &mask) == 0 &&
        (int64_t)mask < llm_model_hparams(sh->model)->n_vocab)
        sh->mask = (dk_token)mask;
    *inst = li;
    return DK_OK;
}

/* The weights and vocabulary of src with a context (sequences, cache, scratch, threads) of its
   own, so both can evaluate at once on different threads. */
static int llama_clone_shared(const void *p, void **out, dk_error *err)
{
    const llama_inst *src = p;
    llama_inst *li = calloc(1, sizeof *li);
    if (!li)
        return src->host->set_error(err, DK_ERR_NOMEM, "out of memory");
    li->host = src->host;
    li->n_threads = src->n_threads;
    if (src->ctx)
        li->ctx = llm_ctx_create(src->sh->model, li->n_threads, llm_ctx_n_ctx(src->ctx), li->err, sizeof li->err);
    if (src->ctx && !li->ctx) {
        int r = fail(li, err, DK_ERR_NOMEM);
        free(li);
        return r;
    }
    atomic_fetch_add(&src->sh->refs, 1);
    li->sh = src->sh;
    *out = li;
    return DK_OK;
}

/* The caller's struct may be older (smaller) than ours. */
static int copy_info(dk_model_info *out, const dk_model_info *info)
{
    uint32_t size = out->struct_size < sizeof *info ? out->struct_size : (uint32_t)sizeof *info;
    if (size < sizeof(uint32_t))
        return DK_ERR_ABI;
    memcpy((char *)out + sizeof(uint32_t), (const char *)info + sizeof(uint32_t), size - sizeof(uint32_t));
    return DK_OK;
}

/* In vocab-only mode there is no context: every evaluating operation says so. */
static int no_ctx(llama_inst *li, dk_error *err)
{
    return li->host->set_error(err, DK_ERR_UNSUPPORTED, "llama: loaded with vocab_only: the model cannot evaluate");
}

static int llama_info(void *p, dk_model_info *out)
{
    llama_inst *li = p;
    const llama_shared *sh = li->sh;
    dk_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (!sh->model) { /* vocab-only: a tokenizer with no operations */
        info.n_vocab = llm_vocab_n(sh->vocab);
        info.bos = llm_vocab_bos(sh->vocab);
        info.eos = llm_vocab_eos(sh->vocab);
        info.eot = llm_vocab_eot(sh->vocab);
        info.mask = -1;
        info.add_bos = llm_vocab_add_bos(sh->vocab);
        info.arch = sh->arch;
        return copy_info(out, &info);
    }
    const llm_hparams *hp = llm_model_hparams(sh->model);
    info.n_vocab = hp->n_vocab;
    info.n_ctx = llm_ctx_n_ctx(li->ctx);
    info.n_embd = hp->n_embd;
    info.bos = sh->vocab ? llm_vocab_bos(sh->vocab) : -1;
    info.eos = sh->vocab ? llm_vocab_eos(sh->vocab) : -1;
    info.eot = sh->vocab ? llm_vocab_eot(sh->vocab) : -1;
    info.mask = sh->mask;
    /* a bidirectional model only runs masked: the causal operations refuse it */
    const uint32_t causal_ops = DK_MODEL_CAP_BATCH | DK_MODEL_CAP_TREE | DK_MODEL_CAP_HIDDEN | DK_MODEL_CAP_RAGGED |
                                DK_MODEL_CAP_HEAD;
    info.caps = DK_MODEL_CAP_FORK | DK_MODEL_CAP_TRUNCATE | DK_MODEL_CAP_ABORT | DK_MODEL_CAP_SHARE |
                DK_MODEL_CAP_MASKED_SEQ | DK_MODEL_CAP_DUAL_CACHE | DK_MODEL_CAP_BLOCK_CAUSAL |
                DK_MODEL_CAP_MASKED_BATCH | (hp->causal ? causal_ops : DK_MODEL_CAP_MASKED);
    info.add_bos = sh->vocab ? llm_vocab_add_bos(sh->vocab) : 0;
    info.arch = hp->arch;
    info.attention = hp->causal ? DK_ATTN_CAUSAL : DK_ATTN_BIDIRECTIONAL;
    info.logit_shift = hp->shift_logits;
    info.n_layer = hp->n_layer;
    return copy_info(out, &info);
}

static int llama_seq_new(void *p, dk_seq *out, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    int rc = llm_seq_new(li->ctx, out, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static void llama_seq_free(void *p, dk_seq seq)
{
    llama_inst *li = p;
    if (li->ctx)
        llm_seq_free(li->ctx, seq);
}

static size_t llama_seq_len(void *p, dk_seq seq)
{
    llama_inst *li = p;
    return li->ctx ? llm_seq_len(li->ctx, seq) : 0;
}

static int llama_eval(void *p, dk_seq seq, const dk_token *toks, size_t n, float *logits, uint32_t flags,
                      dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    int rc = llm_eval(li->ctx, seq, toks, n, logits, (flags & DK_EVAL_ALL_LOGITS) != 0, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_tokenize(void *p, const char *text, size_t len, uint32_t flags, dk_token *out, size_t cap,
                          size_t *n_out, dk_error *err)
{
    llama_inst *li = p;
    if (!li->sh->vocab)
        return li->host->set_error(err, DK_ERR_UNSUPPORTED, "this model file has no tokenizer");
    int rc = llm_tokenize(li->sh->vocab, text, len, (flags & DK_TOKENIZE_ADD_SPECIAL) != 0,
                          (flags & DK_TOKENIZE_PARSE_SPECIAL) != 0, out, cap, n_out);
    if (rc < 0)
        return li->host->set_error(err, DK_ERR_INVALID, "tokenize failed (%d)", rc);
    if (*n_out > cap)
        return li->host->set_error(err, DK_ERR_RANGE, "tokenize: %zu tokens do not fit in %zu", *n_out, cap);
    return DK_OK;
}

static const char *llama_token_piece(void *p, dk_token tok, size_t *len)
{
    llama_inst *li = p;
    *len = 0;
    if (!li->sh->vocab)
        return NULL;
    return llm_token_piece(li->sh->vocab, tok, len);
}

static int llama_detokenize(void *p, const dk_token *toks, size_t n, char *out, size_t cap, size_t *n_out,
                            dk_error *err)
{
    llama_inst *li = p;
    if (!li->sh->vocab)
        return li->host->set_error(err, DK_ERR_UNSUPPORTED, "this model file has no tokenizer");
    int rc = llm_detokenize(li->sh->vocab, toks, n, 0, out, cap, n_out);
    if (rc < 0)
        return li->host->set_error(err, DK_ERR_INVALID, "detokenize: a token id is out of range");
    if (*n_out > cap)
        return li->host->set_error(err, DK_ERR_RANGE, "detokenize: %zu bytes do not fit in %zu", *n_out, cap);
    return DK_OK;
}

static int llama_eval_batch(void *p, const dk_seq *seqs, const dk_token *toks, size_t n, float *logits,
                            dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    int rc = llm_eval_batch(li->ctx, seqs, toks, n, logits, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_eval_tree(void *p, dk_seq seq, const dk_token *toks, const int32_t *parents, size_t n,
                           float *logits, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    int rc = llm_eval_tree(li->ctx, seq, toks, parents, n, logits, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_accept_path(void *p, dk_seq seq, const int32_t *path, size_t n, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    int rc = llm_accept_path(li->ctx, seq, path, n, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_truncate(void *p, dk_seq seq, size_t n_keep, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    int rc = llm_truncate(li->ctx, seq, n_keep, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_fork(void *p, dk_seq src, dk_seq *out, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    int rc = llm_fork(li->ctx, src, out, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_eval_masked(void *p, const dk_token *toks, size_t n, float *logits, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    int rc = llm_eval_masked(li->ctx, toks, n, logits, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_hidden(void *p, dk_seq seq, size_t n, float *out, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    int rc = llm_hidden(li->ctx, seq, n, out, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_describe(void *p, char *out, size_t cap, size_t *n_out, dk_error *err)
{
    llama_inst *li = p;
    if (!li->sh->model)
        *n_out = (size_t)snprintf(out, cap, "%s: vocabulary only (architecture %s), %d tokens, %s tokenizer%s%s\n",
                                  li->sh->path, li->sh->arch, (int)llm_vocab_n(li->sh->vocab),
                                  llm_vocab_type(li->sh->vocab) == LLM_VOCAB_SPM ? "SentencePiece" : "BPE",
                                  llm_vocab_pre_name(li->sh->vocab) ? ", pre-tokenizer " : "",
                                  llm_vocab_pre_name(li->sh->vocab) ? llm_vocab_pre_name(li->sh->vocab) : "");
    else
        *n_out = llm_describe(li->sh->model, li->sh->vocab, llm_ctx_n_ctx(li->ctx), li->sh->path, out, cap);
    if (*n_out > cap)
        return li->host->set_error(err, DK_ERR_RANGE, "describe: %zu bytes do not fit in %zu", *n_out, cap);
    return DK_OK;
}

/* A caller's struct in our layout: one from an older header (smaller) is zero-filled past its
   size, as the ABI's rule for appended members says. */
static void take_struct(void *dst, size_t size, const void *src)
{
    uint32_t n;
    memcpy(&n, src, sizeof n);
    memset(dst, 0, size);
    memcpy(dst, src, n < size ? n : size);
}

static int llama_eval_ragged(void *p, const dk_batch *batch, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    dk_batch b;
    take_struct(&b, sizeof b, batch);
    int rc = llm_eval_ragged(li->ctx, &b, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_eval_masked_seq(void *p, const dk_masked_eval *masked, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    dk_masked_eval me;
    take_struct(&me, sizeof me, masked);
    int rc = llm_eval_masked_seq(li->ctx, &me, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static int llama_eval_masked_batch(void *p, const dk_masked_batch *batch, dk_error *err)
{
    llama_inst *li = p;
    if (!li->ctx)
        return no_ctx(li, err);
    dk_masked_batch mb;
    take_struct(&mb, sizeof mb, batch);
    int rc = llm_eval_masked_batch(li->ctx, &mb, li->err, sizeof li->err);
    return rc ? fail(li, err, rc) : DK_OK;
}

static void llama_set_abort(void *p, dk_abort_fn fn, void *user)
{
    llama_inst *li = p;
    if (li->ctx)
        llm_set_abort(li->ctx, fn, user);
}

static const dk_model_iface k_llama = {
    .hdr = { sizeof(dk_model_iface), DK_KIND_MODEL, "llama", "1.1.0",
             "GGUF llama-family models (llama, mistral, qwen2, llada, dream) on CPU with OpenBLAS, causal or masked (diffusion)",
             k_params, sizeof(dk_param_spec), DK_CAP_INSTANCE_MT },
    .create = llama_create,
    .destroy = llama_destroy,
    .info = llama_info,
    .seq_new = llama_seq_new,
    .seq_free = llama_seq_free,
    .seq_len = llama_seq_len,
    .eval = llama_eval,
    .tokenize = llama_tokenize,
    .token_piece = llama_token_piece,
    .detokenize = llama_detokenize,
    .eval_batch = llama_eval_batch,
    .eval_tree = llama_eval_tree,
    .accept_path = llama_accept_path,
    .truncate = llama_truncate,
    .fork = llama_fork,
    .eval_masked = llama_eval_masked,
    .hidden = llama_hidden,
    .describe = llama_describe,
    .eval_ragged = llama_eval_ragged,
    .eval_masked_seq = llama_eval_masked_seq,
    .eval_masked_batch = llama_eval_masked_batch,
    .set_abort = llama_set_abort,
    .clone_shared = llama_clone_shared,
};

static const dk_iface_header *const k_components[] = { &k_llama.hdr };

static const dk_plugin_desc k_desc = {
    DK_PLUGIN_DESC_HEAD, "llama", "1.1.0", k_components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(llama)
{
    return &k_desc;
}
