/* chat_template.h -- chat prompts: the ChatML, Llama-2, Llama-3 and Mistral formats, recognised from a model's template. */
#ifndef DK_CORE_CHAT_TEMPLATE_H
#define DK_CORE_CHAT_TEMPLATE_H

#include <decokit/plugin.h>

#include <stddef.h>

typedef enum dk_chat_format {
  DK_CHAT_UNKNOWN = 0,
  DK_CHAT_CHATML,  /* <|im_start|>role\ncontent<|im_end|>\n */
  DK_CHAT_LLAMA2,  /* [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant</s><s>[INST] ... */
  DK_CHAT_LLAMA3,  /* <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> */
  DK_CHAT_MISTRAL, /* [INST] system\n\nuser[/INST] assistant</s>[INST] ... */
} dk_chat_format;

/* One message: role is "system", "user" or "assistant". */
typedef struct dk_chat_msg {
  const char *role;
  const char *content;
} dk_chat_msg;

/* "chatml", "llama2", "llama3", "mistral"; DK_CHAT_UNKNOWN for anything else. */
dk_chat_format dk_chat_format_named(const char *name);
const char *dk_chat_format_name(dk_chat_format f);
/* A format's name, or a model's Jinja chat template (GGUF
 * tokenizer.chat_template) recognised by the markers only that format
 * writes; DK_CHAT_UNKNOWN when it is none of the four. */
dk_chat_format dk_chat_detect(const char *tmpl);
/* The prompt for msgs in format f, ending with the opening of the
 * assistant's turn when add_assistant is set.  Special-token texts in it
 * (<|im_start|>, <s>, ...) are meant to be tokenized as special tokens.
 * *out is NUL-terminated; the caller frees it. */
int dk_chat_render(dk_chat_format f, const dk_chat_msg *msgs, size_t n, int add_assistant,
                   char **out, dk_error *err);
/* The text that ends an assistant's turn in format f, to stop at when the
 * model writes it as text. */
const char *dk_chat_end_of_turn(dk_chat_format f);

#endif
