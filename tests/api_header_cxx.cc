// api_header_cxx.cc -- decokit.h compiles as C++ (the C99 check, built as C++11).
#include <decokit/decokit.h>

#include <stddef.h>
#include <stdio.h>

int main(void) {
  int bad = 0;
  /* struct_size comes first in every struct, so any version can read it. */
#define FIRST(type)                                                   \
  if (offsetof(type, struct_size) != 0) {                             \
    printf("FAIL: %s.struct_size is not the first member\n", #type); \
    bad++;                                                            \
  }
  FIRST(decokit_error)
  FIRST(decokit_load_opts)
  FIRST(decokit_run_opts)
  FIRST(decokit_token_info)
  FIRST(decokit_stats)
  FIRST(decokit_hypothesis)
  /* Every function is declared with a prototype this compiler accepts. */
  void (*fns[])(void) = {
      (void (*)(void))decokit_version,          (void (*)(void))decokit_status_name,
      (void (*)(void))decokit_free,             (void (*)(void))decokit_pipeline_load,
      (void (*)(void))decokit_pipeline_parse,   (void (*)(void))decokit_pipeline_set,
      (void (*)(void))decokit_pipeline_set_sampler, (void (*)(void))decokit_pipeline_set_stops,
      (void (*)(void))decokit_pipeline_resolve, (void (*)(void))decokit_pipeline_yaml,
      (void (*)(void))decokit_pipeline_generate_int, (void (*)(void))decokit_pipeline_free,
      (void (*)(void))decokit_run_new,          (void (*)(void))decokit_run_generate,
      (void (*)(void))decokit_run_cancel,       (void (*)(void))decokit_run_piece,
      (void (*)(void))decokit_run_vocab_size,   (void (*)(void))decokit_run_free,
      (void (*)(void))decokit_result_count,     (void (*)(void))decokit_result_text,
      (void (*)(void))decokit_result_tokens,    (void (*)(void))decokit_result_stop_reason,
      (void (*)(void))decokit_result_token,     (void (*)(void))decokit_result_top,
      (void (*)(void))decokit_result_nbest_count, (void (*)(void))decokit_result_nbest,
      (void (*)(void))decokit_result_stats,     (void (*)(void))decokit_result_metric_count,
      (void (*)(void))decokit_result_metric,    (void (*)(void))decokit_result_prompt_tokens,
      (void (*)(void))decokit_result_free,      (void (*)(void))decokit_set_log};
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++)
    if (!fns[i]) bad++;
  if (DECOKIT_OK != 0 || DECOKIT_ERR_CANCELLED != -10) bad++;
  return bad != 0;
}
