/* tokenizer_pre.c -- pre-tokenizers of byte-level BPE vocabularies: the published split regexes, hand-compiled. */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Each pre-tokenizer is a sequence of "isolating" splits: every match of a pattern becomes its own
   word, the text between matches stays as words too, and each later pattern only sees the words
   of the earlier ones (so lookaheads and '$' stop at word ends). Matching at a position follows
   backtracking-regex semantics: the first alternative that matches wins, not the longest. */

enum { CF_L = 1, CF_N = 2, CF_W = 4, CF_P = 8 };

typedef struct cpu {
    uint32_t cp;    /* code point; 0xFFFFFFFF for a byte that is not valid UTF-8 */
    uint32_t off;   /* byte offset in the input */
    uint8_t len;    /* bytes */
    uint8_t flags;
} cpu;

typedef size_t (*matcher)(const cpu *c, size_t pos, size_t end);

static uint8_t cp_flags(uint32_t cp)
{
    if (cp == 0xFFFFFFFFu)
        return 0;
    /* White_Space property: Zs/Zl/Zp plus the C0/C1 spacing controls. */
    if ((cp >= 9 && cp <= 13) || cp == 0x85)
        return CF_W;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CF_L;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CF_N;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return CF_P;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return CF_W;
    default:
        return 0;
    }
}

static int is_l(const cpu *u) { return u->flags & CF_L; }
static int is_n(const cpu *u) { return u->flags & CF_N; }
static int is_w(const cpu *u) { return u->flags & CF_W; }
static int is_p(const cpu *u) { return u->flags & CF_P; }
static int is_other(const cpu *u) { return !(u->flags & (CF_L | CF_N | CF_W)); }
static int is_crlf(const cpu *u) { return u->cp == '\r' || u->cp == '\n'; }

static size_t run(const cpu *c, size_t pos, size_t end, int (*pred)(const cpu *))
{
    size_t i = pos;
    while (i < end && pred(&c[i]))
        i++;
    return i - pos;
}

static uint32_t ascii_lower(uint32_t cp) { return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; }

/* 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive */
static size_t contraction(const cpu *c, size_t pos, size_t end, int ci)
{
    if (c[pos].cp != '\'' || pos + 1 >= end)
        return 0;
    uint32_t a = ci ? ascii_lower(c[pos + 1].cp) : c[pos + 1].cp;
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (pos + 2 >= end)
        return 0;
    uint32_t b = ci ? ascii_lower(c[pos + 2].cp) : c[pos + 2].cp;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* \s+(?!\S) */
static size_t ws_not_before_nonspace(const cpu *c, size_t pos, size_t end)
{
    size_t r = run(c, pos, end, is_w);
    if (r == 0)
        return 0;
    if (pos + r == end)
        return r;
    return r - 1; /* backtrack one so the lookahead sees a space; 0 = no match */
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static size_t m_gpt2(const cpu *c, size_t pos, size_t end)
{
    size_t k = contraction(c, pos, end, 0);
    if (k)
        return k;
    size_t sp = c[pos].cp == ' ';
    if (pos + sp < end && is_l(&c[pos + sp]))
        return sp + run(c, pos + sp, end, is_l);
    if (pos + sp < end && is_n(&c[pos + sp]))
        return sp + run(c, pos + sp, end, is_n);
    if (pos + sp < end && is_other(&c[pos + sp]))
        return sp + run(c, pos + sp, end, is_other);
    return ws_not_before_nonspace(c, pos, end);
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|
   \s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t m_llama3_digits(const cpu *c, size_t pos, size_t end, size_t max_digits)
{
    size_t k = contraction(c, pos, end, 1);
    if (k)
        return k;
    if (!is_l(&c[pos]) && !is_n(&c[pos]) && !is_crlf(&c[pos]) && pos + 1 < end && is_l(&c[pos + 1]))
        return 1 + run(c, pos + 1, end, is_l);
    if (is_l(&c[pos]))
        return run(c, pos, end, is_l);
    if (is_n(&c[pos])) {
        k = run(c, pos, end, is_n);
        return k < max_digits ? k : max_digits;
    }
    size_t sp = c[pos].cp == ' ';
    if (pos + sp < end && is_other(&c[pos + sp])) {
        k = sp + run(c, pos + sp, end, is_other);
        return k + run(c, pos + k, end, is_crlf);
    }
    size_t r = run(c, pos, end, is_w);
    if (r == 0)
        return 0;
    for (size_t q = pos + r; q > pos; q--) /* \s*[\r\n]+ ends after the run's last newline */
        if (is_crlf(&c[q - 1]))
            return q - pos;
    k = ws_not_before_nonspace(c, pos, end);
    return k ? k : r;
}

static size_t m_llama3(const cpu *c, size_t pos, size_t end) { return m_llama3_digits(c, pos, end, 3); }
static size_t m_qwen2(const cpu *c, size_t pos, size_t end) { return m_llama3_digits(c, pos, end, 1); }

/* \p{N} */
static size_t m_one_digit(const cpu *c, size_t pos, size_t end)
{
    (void)end;
    return is_n(&c[pos]) ? 1 : 0;
}

/* \p{N}+ */
static size_t m_digits(const cpu *c, size_t pos, size_t end) { return run(c, pos, end, is_n); }

/* [0-9][0-9][0-9] */
static size_t m_three_ascii_digits(const cpu *c, size_t pos, size_t end)
{
    if (pos + 3 > end)
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (c[pos + i].cp < '0' || c[pos + i].cp > '9')
            return 0;
    return 3;
}

static int is_default_punct(const cpu *u)
{
    return is_p(u) || u->cp == '$' || u->cp == '+' || u->cp == '<' || u->cp == '=' || u->cp == '>' ||
           u->cp == '^' || u->cp == '~' || u->cp == '|';
}
static int is_falcon_punct(const cpu *u) { return is_default_punct(u) || u->cp == '`'; }

/* [\p{P}\$\+<=>\^~\|]+ and the falcon variant with a backquote */
static size_t m_default_punct(const cpu *c, size_t pos, size_t end) { return run(c, pos, end, is_default_punct); }
static size_t m_falcon_punct(const cpu *c, size_t pos, size_t end) { return run(c, pos, end, is_falcon_punct); }

/* [\r\n] */
static size_t m_crlf(const cpu *c, size_t pos, size_t end)
{
    (void)end;
    return is_crlf(&c[pos]) ? 1 : 0;
}

typedef struct cp_range { uint32_t lo, hi; } cp_range;

static int in_ranges(uint32_t cp, const cp_range *r, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

/* The cased-letter class of DeepSeek LLM's split regex (Latin, Greek, Cyrillic, Armenian, ...). */
static const cp_range ds_letters[] = {
    {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
    {0x00F8, 0x01BA}, {0x01BC, 0x01BF}, {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373},
    {0x0376, 0x0377}, {0x037B, 0x037D}, {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A},
    {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F},
    {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F},
    {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

/* [!-/:-~！-／：-～‘-‟　-。] */
static const cp_range ds_punct[] = {
    {0x0021, 0x002F}, {0x003A, 0x007E}, {0x2018, 0x201F}, {0x3000, 0x3002},
    {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
};

/* [一-龥ࠀ-一가-퟿] */
static const cp_range ds_cjk[] = {
    {0x0800, 0x9FA5}, {0xAC00, 0xD7FF},
};

#define NRANGES(a) (sizeof(a) / sizeof((a)[0]))

static int is_ds_letter(const cpu *u) { return in_ranges(u->cp, ds_letters, NRANGES(ds_letters)); }
static int is_ds_punct(const cpu *u) { return in_ranges(u->cp, ds_punct, NRANGES(ds_punct)); }
static int is_ds_cjk(const cpu *u) { return in_ranges(u->cp, ds_cjk, NRANGES(ds_cjk)); }

/* \s?X+ */
static size_t opt_space_run(const cpu *c, size_t pos, size_t end, int (*pred)(const cpu *))
{
    if (is_w(&c[pos]) && pos + 1 < end && pred(&c[pos + 1]))
        return 1 + run(c, pos + 1, end, pred);
    return run(c, pos, end, pred);
}

static size_t m_ds_letters(const cpu *c, size_t pos, size_t end) { return opt_space_run(c, pos, end, is_ds_letter); }
static size_t m_ds_punct(const cpu *c, size_t pos, size_t end) { return opt_space_run(c, pos, end, is_ds_punct); }
static size_t m_ds_cjk(const cpu *c, size_t pos, size_t end) { return run(c, pos, end, is_ds_cjk); }
static size_t m_letters_opt_space(const cpu *c, size_t pos, size_t end) { return opt_space_run(c, pos, end, is_l); }
static size_t m_punct_opt_space(const cpu *c, size_t pos, size_t end) { return opt_space_run(c, pos, end, is_p); }

/* \s+$ */
static size_t m_trailing_space(const cpu *c, size_t pos, size_t end)
{
    size_t r = run(c, pos, end, is_w);
    return (r && pos + r == end) ? r : 0;
}

typedef struct pre_def {
    matcher m[6];
    size_t n;
} pre_def;

static const pre_def pre_defs[] = {
    [LLM_PRE_DEFAULT] = {{m_default_punct, m_gpt2, m_digits, m_three_ascii_digits}, 4},
    [LLM_PRE_GPT2] = {{m_gpt2}, 1},
    [LLM_PRE_LLAMA3] = {{m_llama3}, 1},
    [LLM_PRE_QWEN2] = {{m_qwen2}, 1},
    [LLM_PRE_STARCODER] = {{m_one_digit, m_gpt2}, 2},
    [LLM_PRE_DEEPSEEK_LLM] = {{m_crlf, m_ds_letters, m_ds_punct, m_trailing_space, m_ds_cjk, m_digits}, 6},
    [LLM_PRE_DEEPSEEK_CODER] = {{m_crlf, m_letters_opt_space, m_punct_opt_space, m_ds_cjk, m_one_digit}, 5},
    [LLM_PRE_FALCON] = {{m_falcon_punct, m_gpt2, m_three_ascii_digits}, 3},
};

typedef struct cspan { size_t b, e; } cspan; /* code-unit range */

typedef struct cspanvec {
    cspan *v;
    size_t n, cap;
} cspanvec;

static int cspan_push(cspanvec *s, size_t b, size_t e)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        cspan *nv = realloc(s->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n].b = b;
    s->v[s->n].e = e;
    s->n++;
    return 0;
}

static int split_pass(const cpu *c, const cspanvec *in, cspanvec *out, matcher m)
{
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        size_t b = in->v[i].b, e = in->v[i].e, start = b, pos = b;
        while (pos < e) {
            size_t k = m(c, pos, e);
            if (k == 0) {
                pos++;
                continue;
            }
            if (start < pos && cspan_push(out, start, pos))
                return -1;
            if (cspan_push(out, pos, pos + k))
                return -1;
            pos += k;
            start = pos;
        }
        if (start < e && cspan_push(out, start, e))
            return -1;
    }
    return 0;
}

int llm_pretokenize(int pre, const char *text, size_t len, llm_span **words, size_t *n_words)
{
    *words = NULL;
    *n_words = 0;
    if (pre < 0 || (size_t)pre >= NRANGES(pre_defs))
        return -1;
    if (len == 0)
        return 0;

    cpu *c = malloc(len * sizeof(*c));
    if (!c)
        return -1;
    size_t nc = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    for (size_t off = 0; off < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + off, (utf8proc_ssize_t)(len - off), &cp);
        if (k <= 0) { /* not UTF-8: keep the byte as an opaque unit so no input is lost */
            k = 1;
            cp = -1;
        }
        c[nc].cp = (uint32_t)cp;
        c[nc].off = (uint32_t)off;
        c[nc].len = (uint8_t)k;
        c[nc].flags = cp_flags((uint32_t)cp);
        nc++;
        off += (size_t)k;
    }

    int rc = -1;
    cspanvec a = {0}, b = {0};
    if (cspan_push(&a, 0, nc))
        goto done;
    const pre_def *d = &pre_defs[pre];
    for (size_t i = 0; i < d->n; i++) {
        if (split_pass(c, &a, &b, d->m[i]))
            goto done;
        cspanvec t = a;
        a = b;
        b = t;
    }
    llm_span *w = malloc((a.n ? a.n : 1) * sizeof(*w));
    if (!w)
        goto done;
    for (size_t i = 0; i < a.n; i++) {
        const cpu *first = &c[a.v[i].b], *last = &c[a.v[i].e - 1];
        w[i].off = first->off;
        w[i].len = (size_t)last->off + last->len - first->off;
    }
    *words = w;
    *n_words = a.n;
    rc = 0;
done:
    free(a.v);
    free(b.v);
    free(c);
    return rc;
}

static const struct {
    const char *name;
    int pre, ignore_merges, add_bos;
} pre_names[] = {
    {"default", LLM_PRE_DEFAULT, 0, 0},
    {"gpt-2", LLM_PRE_GPT2, 0, 0},       {"phi-2", LLM_PRE_GPT2, 0, 0},
    {"mpt", LLM_PRE_GPT2, 0, 0},         {"olmo", LLM_PRE_GPT2, 0, 0},
    {"jais", LLM_PRE_GPT2, 0, 0},        {"roberta-bpe", LLM_PRE_GPT2, 0, 0},
    {"gigachat", LLM_PRE_GPT2, 0, 0},
    {"llama3", LLM_PRE_LLAMA3, 1, 1},    {"llama-v3", LLM_PRE_LLAMA3, 1, 1},
    {"llama-bpe", LLM_PRE_LLAMA3, 1, 1}, {"falcon3", LLM_PRE_LLAMA3, 1, 1},
    {"dbrx", LLM_PRE_LLAMA3, 0, 0},      {"smaug-bpe", LLM_PRE_LLAMA3, 0, 0},
    {"chatglm-bpe", LLM_PRE_LLAMA3, 0, 0},
    {"qwen2", LLM_PRE_QWEN2, 0, 0},      {"stablelm2", LLM_PRE_QWEN2, 0, 0},
    {"megrez", LLM_PRE_QWEN2, 0, 0},
    {"starcoder", LLM_PRE_STARCODER, 0, 0}, {"refact", LLM_PRE_STARCODER, 0, 0},
    {"command-r", LLM_PRE_STARCODER, 0, 0}, {"smollm", LLM_PRE_STARCODER, 0, 0},
    {"codeshell", LLM_PRE_STARCODER, 0, 0}, {"exaone", LLM_PRE_STARCODER, 0, 0},
    {"minerva-7b", LLM_PRE_STARCODER, 0, 0},
    {"deepseek-llm", LLM_PRE_DEEPSEEK_LLM, 0, 0},
    {"deepseek-coder", LLM_PRE_DEEPSEEK_CODER, 0, 0},
    {"falcon", LLM_PRE_FALCON, 0, 0},
};

int llm_pre_from_name(const char *name, size_t len, int *ignore_merges, int *add_bos)
{
    for (size_t i = 0; i < NRANGES(pre_names); i++) {
        if (strlen(pre_names[i].name) == len && memcmp(pre_names[i].name, name, len) == 0) {
            *ignore_merges = pre_names[i].ignore_merges;
            *add_bos = pre_names[i].add_bos;
            return pre_names[i].pre;
        }
    }
    return -1;
}

const char *llm_pre_canonical_name(int pre)
{
    for (size_t i = 0; i < NRANGES(pre_names); i++)
        if (pre_names[i].pre == pre)
            return pre_names[i].name;
    return "?";
}
