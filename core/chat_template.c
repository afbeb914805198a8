/* chat_template.c -- render conversations in the four chat formats decokit knows, and recognise them in model templates. */
#include "chat_template.h"

#include "error.h"
#include "params.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"", "chatml", "llama2", "llama3", "mistral"};

dk_chat_format dk_chat_format_named(const char *name) {
  for (int f = DK_CHAT_CHATML; f <= DK_CHAT_MISTRAL; f++)
    if (name && strcmp(name, names[f]) == 0) return (dk_chat_format)f;
  return DK_CHAT_UNKNOWN;
}

const char *dk_chat_format_name(dk_chat_format f) {
  return f >= DK_CHAT_CHATML && f <= DK_CHAT_MISTRAL ? names[f] : "unknown";
}

dk_chat_format dk_chat_detect(const char *t) {
  if (!t) return DK_CHAT_UNKNOWN;
  dk_chat_format named = dk_chat_format_named(t);
  if (named) return named;
  /* Markers that only one of the four formats writes; templates of other
   * families (Phi, Gemma, ...) match none and are not guessed at. */
  if (strstr(t, "<|im_start|>") && strstr(t, "<|im_end|>") && !strstr(t, "<|im_sep|>"))
    return DK_CHAT_CHATML;
  if (strstr(t, "<|start_header_id|>") && strstr(t, "<|end_header_id|>") && strstr(t, "<|eot_id|>"))
    return DK_CHAT_LLAMA3;
  if (strstr(t, "[INST]") && strstr(t, "[/INST]") && !strstr(t, "[SYSTEM_PROMPT]"))
    return strstr(t, "<<SYS>>") ? DK_CHAT_LLAMA2 : DK_CHAT_MISTRAL;
  return DK_CHAT_UNKNOWN;
}

const char *dk_chat_end_of_turn(dk_chat_format f) {
  switch (f) {
  case DK_CHAT_CHATML: return "<|im_end|>";
  case DK_CHAT_LLAMA3: return "<|eot_id|>";
  case DK_CHAT_LLAMA2:
  case DK_CHAT_MISTRAL: return "</s>";
  default: return "";
  }
}

typedef struct out_buf {
  char *buf;
  size_t len, cap;
} out_buf;

static void put(out_buf *o, const char *s) { dk_buf_append(&o->buf, &o->len, &o->cap, s, strlen(s)); }

/* Llama-3's reference template trims each message. */
static void put_trimmed(out_buf *o, const char *s) {
  while (*s && isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) n--;
  dk_buf_append(&o->buf, &o->len, &o->cap, s, n);
}

/* The [INST] formats: a system message joins the next user message inside
 * its [INST] block, and turns alternate user, assistant. */
static int render_inst(dk_chat_format f, const dk_chat_msg *m, size_t n, out_buf *o,
                       dk_error *err) {
  int open = 0; /* inside an [INST] block */
  int expect_user = 1;
  for (size_t i = 0; i < n; i++) {
    const char *role = m[i].role;
    if (strcmp(role, "system") == 0) {
      if (i != 0)
        return dk_error_set(err, DK_ERR_INVALID,
                            "chat: the %s format takes a system message only first (message %zu)",
                            dk_chat_format_name(f), i + 1);
      put(o, "[INST] ");
      open = 1;
      if (f == DK_CHAT_LLAMA2) {
        put(o, "<<SYS>>\n");
        put(o, m[i].content);
        put(o, "\n<</SYS>>\n\n");
      } else {
        put(o, m[i].content);
        put(o, "\n\n");
      }
    } else if (strcmp(role, "user") == 0) {
      if (!expect_user)
        return dk_error_set(err, DK_ERR_INVALID,
                            "chat: the %s format needs user and assistant turns to alternate "
                            "(message %zu)", dk_chat_format_name(f), i + 1);
      /* Llama-2 starts every later turn with BOS (<s>), as Meta's reference
       * code does; Mistral's format does not. */
      if (!open) put(o, i && f == DK_CHAT_LLAMA2 ? "<s>[INST] " : "[INST] ");
      put(o, m[i].content);
      put(o, f == DK_CHAT_LLAMA2 ? " [/INST]" : "[/INST]");
      open = 0;
      expect_user = 0;
    } else {
      if (expect_user)
        return dk_error_set(err, DK_ERR_INVALID,
                            "chat: the %s format needs user and assistant turns to alternate "
                            "(message %zu)", dk_chat_format_name(f), i + 1);
      put(o, " ");
      put(o, m[i].content);
      put(o, "</s>");
      expect_user = 1;
    }
  }
  return DK_OK;
}

int dk_chat_render(dk_chat_format f, const dk_chat_msg *m, size_t n, int add_assistant,
                   char **out, dk_error *err) {
  *out = NULL;
  if (f < DK_CHAT_CHATML || f > DK_CHAT_MISTRAL)
    return dk_error_set(err, DK_ERR_INVALID, "chat: unknown chat format");
  for (size_t i = 0; i < n; i++)
    if (!m[i].role || !m[i].content ||
        (strcmp(m[i].role, "system") && strcmp(m[i].role, "user") && strcmp(m[i].role, "assistant")))
      return dk_error_set(err, DK_ERR_INVALID,
                          "chat: message %zu: the role must be system, user or assistant, not '%s'",
                          i + 1, m[i].role ? m[i].role : "(none)");
  out_buf o = {NULL, 0, 0};
  int rc = DK_OK;
  switch (f) {
  case DK_CHAT_CHATML:
    for (size_t i = 0; i < n; i++) {
      put(&o, "<|im_start|>");
      put(&o, m[i].role);
      put(&o, "\n");
      put(&o, m[i].content);
      put(&o, "<|im_end|>\n");
    }
    if (add_assistant) put(&o, "<|im_start|>assistant\n");
    break;
  case DK_CHAT_LLAMA3:
    for (size_t i = 0; i < n; i++) {
      put(&o, "<|start_header_id|>");
      put(&o, m[i].role);
      put(&o, "<|end_header_id|>\n\n");
      put_trimmed(&o, m[i].content);
      put(&o, "<|eot_id|>");
    }
    if (add_assistant) put(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    break;
  default:
    /* [INST] formats have no header of their own for the assistant: the
     * prompt ends with the user's [/INST]. */
    rc = render_inst(f, m, n, &o, err);
  }
  if (rc) {
    free(o.buf);
    return rc;
  }
  if (o.cap == DK_BUF_FAILED) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  *out = o.buf ? o.buf : dk_strdup("");
  return *out ? DK_OK : dk_error_set(err, DK_ERR_NOMEM, "out of memory");
}
