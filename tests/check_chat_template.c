/* check_chat_template.c -- the four chat formats, rendered exactly, and recognised from model templates. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"
#include "error.h"
#include "harness.h"

static dk_error err;

static const dk_chat_msg convo[] = {{"system", "Be brief."},
                                    {"user", "Hi"},
                                    {"assistant", "Hello."},
                                    {"user", "Who are you?"}};

static void expect(dk_chat_format f, const dk_chat_msg *m, size_t n, int add, const char *want) {
  char *out = NULL;
  ck_assert_msg(dk_chat_render(f, m, n, add, &out, &err) == DK_OK, "%s", err.msg);
  ck_assert_str_eq(out, want);
  free(out);
}

START_TEST(test_chatml) {
  expect(DK_CHAT_CHATML, convo, 4, 1,
         "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
         "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nWho are you?<|im_end|>\n"
         "<|im_start|>assistant\n");
  expect(DK_CHAT_CHATML, convo + 1, 1, 0, "<|im_start|>user\nHi<|im_end|>\n");
  ck_assert_str_eq(dk_chat_end_of_turn(DK_CHAT_CHATML), "<|im_end|>");
}
END_TEST

START_TEST(test_llama3) {
  /* Messages are trimmed, as Meta's template does. */
  const dk_chat_msg m[] = {{"user", "  Hi \n"}};
  expect(DK_CHAT_LLAMA3, m, 1, 1,
         "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\n");
  expect(DK_CHAT_LLAMA3, convo, 3, 0,
         "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
         "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>");
  ck_assert_str_eq(dk_chat_end_of_turn(DK_CHAT_LLAMA3), "<|eot_id|>");
}
END_TEST

START_TEST(test_llama2) {
  expect(DK_CHAT_LLAMA2, convo, 4, 1,
         "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello.</s><s>[INST] Who are you? [/INST]");
  expect(DK_CHAT_LLAMA2, convo + 1, 1, 1, "[INST] Hi [/INST]");
  ck_assert_str_eq(dk_chat_end_of_turn(DK_CHAT_LLAMA2), "</s>");
}
END_TEST

START_TEST(test_mistral) {
  expect(DK_CHAT_MISTRAL, convo, 4, 1,
         "[INST] Be brief.\n\nHi[/INST] Hello.</s>[INST] Who are you?[/INST]");
  ck_assert_str_eq(dk_chat_end_of_turn(DK_CHAT_MISTRAL), "</s>");
}
END_TEST

START_TEST(test_errors) {
  char *out = (char *)1;
  const dk_chat_msg bad_role[] = {{"tool", "x"}};
  ck_assert_int_eq(dk_chat_render(DK_CHAT_CHATML, bad_role, 1, 1, &out, &err), DK_ERR_INVALID);
  ck_assert_ptr_null(out);
  ck_assert_msg(strstr(err.msg, "not 'tool'") != NULL, "%s", err.msg);
  /* The [INST] formats need alternating turns and a leading system message. */
  const dk_chat_msg two_users[] = {{"user", "a"}, {"user", "b"}};
  ck_assert_int_eq(dk_chat_render(DK_CHAT_LLAMA2, two_users, 2, 1, &out, &err), DK_ERR_INVALID);
  ck_assert_msg(strstr(err.msg, "alternate") != NULL, "%s", err.msg);
  const dk_chat_msg late_system[] = {{"user", "a"}, {"system", "b"}};
  ck_assert_int_eq(dk_chat_render(DK_CHAT_MISTRAL, late_system, 2, 1, &out, &err), DK_ERR_INVALID);
  ck_assert_msg(strstr(err.msg, "only first") != NULL, "%s", err.msg);
  const dk_chat_msg starts_assistant[] = {{"assistant", "a"}};
  ck_assert_int_eq(dk_chat_render(DK_CHAT_MISTRAL, starts_assistant, 1, 1, &out, &err),
                   DK_ERR_INVALID);
  /* ChatML and Llama-3 take any order. */
  expect(DK_CHAT_CHATML, two_users, 2, 0, "<|im_start|>user\na<|im_end|>\n<|im_start|>user\nb<|im_end|>\n");
  ck_assert_int_eq(dk_chat_render(DK_CHAT_UNKNOWN, convo, 1, 1, &out, &err), DK_ERR_INVALID);
}
END_TEST

START_TEST(test_names) {
  ck_assert_int_eq(dk_chat_format_named("chatml"), DK_CHAT_CHATML);
  ck_assert_int_eq(dk_chat_format_named("llama2"), DK_CHAT_LLAMA2);
  ck_assert_int_eq(dk_chat_format_named("llama3"), DK_CHAT_LLAMA3);
  ck_assert_int_eq(dk_chat_format_named("mistral"), DK_CHAT_MISTRAL);
  ck_assert_int_eq(dk_chat_format_named("ChatML"), DK_CHAT_UNKNOWN);
  ck_assert_int_eq(dk_chat_format_named(NULL), DK_CHAT_UNKNOWN);
  for (int f = DK_CHAT_CHATML; f <= DK_CHAT_MISTRAL; f++)
    ck_assert_int_eq(dk_chat_format_named(dk_chat_format_name((dk_chat_format)f)), f);
}
END_TEST

/* Jinja templates in the shape models ship them (abridged). */
START_TEST(test_detect) {
  ck_assert_int_eq(dk_chat_detect("{% for message in messages %}{{'<|im_start|>' + message['role'] "
                                  "+ '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"),
                   DK_CHAT_CHATML);
  ck_assert_int_eq(dk_chat_detect("{{ bos_token }}{% for message in messages %}{{ "
                                  "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' "
                                  "+ message['content'] | trim + '<|eot_id|>' }}{% endfor %}"),
                   DK_CHAT_LLAMA3);
  ck_assert_int_eq(dk_chat_detect("{% if messages[0]['role'] == 'system' %}{% set system_message = "
                                  "'<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}"
                                  "{% endif %}{{ bos_token + '[INST] ' + content + ' [/INST]' }}"),
                   DK_CHAT_LLAMA2);
  ck_assert_int_eq(dk_chat_detect("{{ bos_token }}{% for message in messages %}{% if message['role'] "
                                  "== 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% "
                                  "else %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}"),
                   DK_CHAT_MISTRAL);
  ck_assert_int_eq(dk_chat_detect("llama3"), DK_CHAT_LLAMA3);
  /* Other families are not guessed at. */
  ck_assert_int_eq(dk_chat_detect("{{ '<start_of_turn>' + role + '\\n' }}"), DK_CHAT_UNKNOWN);
  ck_assert_int_eq(dk_chat_detect("<|im_start|>{{ m }}<|im_sep|><|im_end|>"), DK_CHAT_UNKNOWN);
  ck_assert_int_eq(dk_chat_detect("[SYSTEM_PROMPT][INST][/INST]"), DK_CHAT_UNKNOWN);
  ck_assert_int_eq(dk_chat_detect(""), DK_CHAT_UNKNOWN);
  ck_assert_int_eq(dk_chat_detect(NULL), DK_CHAT_UNKNOWN);
}
END_TEST

int main(void) {
  Suite *s = suite_create("chat_template");
  TCase *tc = tcase_create("chat_template");
  tcase_add_test(tc, test_chatml);
  tcase_add_test(tc, test_llama3);
  tcase_add_test(tc, test_llama2);
  tcase_add_test(tc, test_mistral);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_names);
  tcase_add_test(tc, test_detect);
  suite_add_tcase(s, tc);
  return dkh_run(s);
}
