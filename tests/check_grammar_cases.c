/* check_grammar_cases.c -- llama.cpp's GBNF integration cases (grammars with texts in and out of their languages) */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"

/* The cases of llama.cpp's tests/test-grammar-integration.cpp for plain grammars,
 * written down here as data: each grammar with texts it must take and refuse. */
typedef struct gcase {
  const char *name, *grammar;
  const char *in[24], *out[24];
} gcase;

static const gcase cases[] = {
    {"simple grammar",
     "root ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= number\nnumber ::= [0-9]+",
     {"42", "1+2+3+4+5", "123+456"},
     {"+", "/ 3", "1+2+3+4+5+", "12a45"}},
    {"medium complexity grammar",
     "root ::= expression\n"
     "expression ::= term ws ((\"+\"|\"-\") ws term)*\n"
     "term ::= factor ws ((\"*\"|\"/\") ws factor)*\n"
     "factor ::= number | variable | \"(\" expression \")\" | function-call\n"
     "number ::= [0-9]+\n"
     "variable ::= [a-zA-Z_][a-zA-Z0-9_]*\n"
     "function-call ::= variable ws \"(\" (expression (\",\" ws expression)*)? \")\"\n"
     "ws ::= [ \\t\\n\\r]?",
     {"42", "1*2*3*4*5", "x", "x+10", "x1+y2", "(a+b)*(c-d)", "func()", "func(x,y+2)",
      "a*(b+c)-d/e", "f(g(x),h(y,z))", "x + 10", "x1 + y2", "(a + b) * (c - d)",
      "func(x, y + 2)", "a * (b + c) - d / e", "f(g(x), h(y, z))", "123+456",
      "123*456*789-123/456+789*123",
      "123+456*789-123/456+789*123-456/789+123*456-789/123+456*789-123/456+789*123-456"},
     {"+", "/ 3x", "x + + y", "a * / b", "func(,)", "func(x y)", "(a + b", "x + y)",
      "a + b * (c - d", "42 +", "x +", "x + 10 +", "(a + b) * (c - d", "func(",
      "func(x, y + 2", "a * (b + c) - d /", "f(g(x), h(y, z)",
      "123+456*789-123/456+789*123-456/789+123*456-789/123+456*789-123/456+789*123-456/"}},
    {"special characters",
     "root ::= ... \"abc\" ...",
     {"abcabcabc", "aaaabcccc",
      "\xf0\x9f\x94\xb5\xf0\x9f\x9f\xa0\xe2\x9c\x85" "abc" "\xe2\x9d\x8c\xf0\x9f\x9f\xa0\xf0\x9f\x94\xb5"},
     {"aaabcccc", "aaaaabcccc", "aaaabccc", "aaaabccccc",
      "\xf0\x9f\x94\xb5\xf0\x9f\x9f\xa0\xe2\x9c\x85\xe2\x9d\x8c" "abc"
      "\xe2\x9d\x8c\xe2\x9c\x85\xf0\x9f\x9f\xa0\xf0\x9f\x94\xb5",
      "\xf0\x9f\x94\xb5\xf0\x9f\x9f\xa0" "abc" "\xf0\x9f\x9f\xa0\xf0\x9f\x94\xb5"}},
    {"* quantifier", "root ::= \"a\"*",
     {"", "a", "aaaaa", "aaaaaaaaaaaaaaaaaa"},
     {"b", "ab", "aab", "ba", "aaaaaaaaaaaaaaaaaaaaab"}},
    {"+ quantifier", "root ::= \"a\"+",
     {"a", "aaaaa", "aaaaaaaaaaaaaaaaaa"},
     {"", "b", "ab", "aab", "ba", "aaaaaaaaaaaaaaaaaaaaab"}},
    {"? quantifier", "root ::= \"a\"?", {"", "a"}, {"b", "ab", "aa", "ba"}},
    {"mixed quantifiers",
     "root ::= cons+ vowel* cons? (vowel cons)*\nvowel ::= [aeiouy]\n"
     "cons ::= [bcdfghjklmnpqrstvwxyz]",
     {"yes", "no", "noyes", "crwth", "four", "bryyyy"},
     {"yess", "yesno", "forty", "catyyy"}},
    {"simple exact repetition", "root ::= [ab]{4}", {"aaaa", "bbbb", "abab"},
     {"a", "b", "aaaaa"}},
    {"simple min repetition", "root ::= [ab]{4,}", {"aaaa", "aaaaab", "bbbb", "ababab"},
     {"", "aba"}},
    {"simple max repetition", "root ::= [ab]{0,4}", {"", "a", "aa", "aaa", "aaab"},
     {"aaaaa"}},
    {"min / max repetition", "root ::= (\"0x\" [A-F0-9]{2} \" \"?){3,5}",
     {"0xFF 0x12 0xAB", "0xFF 0x12 0xAB 0x00 0x00"},
     {"", "0xFF", "0xFF 0x12", "0xFF 0x12 0xAB 0x00 0x00 0x00"}},
};

/* Grammars llama.cpp refuses: no root, an undefined rule, left recursion. */
static const char *const refused[] = {
    "rot ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= number\nnumber ::= [0-9]+",
    "root ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= numero\nnumber ::= [0-9]+",
    "root ::= \"a\" | root \"a\"",
    "root ::= asdf\nasdf ::= \"a\" | asdf \"a\"",
    "root ::= asdf\nasdf ::= \"a\" | foo \"b\"\nfoo ::= \"c\" | asdf \"d\" | \"e\"",
    "root ::= asdf\nasdf ::= \"a\" | foo \"b\"\nfoo ::= \"c\" | empty asdf \"d\" | \"e\"\n"
    "empty ::= \"blah\" | ",
};

START_TEST(test_cases) {
  const gcase *c = &cases[_i];
  char err[256];
  dkg_checker *k = dkg_checker_new(c->grammar, strlen(c->grammar), err, sizeof err);
  ck_assert_msg(k != NULL, "%s: %s", c->name, err);
  for (int i = 0; i < 24 && c->in[i]; i++)
    ck_assert_msg(dkg_checker_run(k, c->in[i], strlen(c->in[i]), NULL) == 1, "%s: '%s' refused",
                  c->name, c->in[i]);
  for (int i = 0; i < 24 && c->out[i]; i++)
    ck_assert_msg(dkg_checker_run(k, c->out[i], strlen(c->out[i]), NULL) == 0,
                  "%s: '%s' taken", c->name, c->out[i]);
  dkg_checker_free(k);
}
END_TEST

START_TEST(test_refused) {
  char err[256];
  dkg_checker *k = dkg_checker_new(refused[_i], strlen(refused[_i]), err, sizeof err);
  ck_assert_msg(k == NULL, "grammar %d was taken", _i);
}
END_TEST

int main(void) {
  Suite *s = suite_create("grammar-cases");
  TCase *tc = tcase_create("llama.cpp");
  tcase_add_loop_test(tc, test_cases, 0, (int)(sizeof cases / sizeof *cases));
  tcase_add_loop_test(tc, test_refused, 0, (int)(sizeof refused / sizeof *refused));
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
