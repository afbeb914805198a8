/* cmd_run.c -- `decokit run`: generate from a pipeline, streaming text or printing JSON. */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"
#include "textfile.h"

/* A prompt file larger than this is refused, not read whole. */
#define DK_PROMPT_MAX_BYTES (64u << 20)

static void run_usage(FILE *f) {
  fputs("Usage: decokit run [PIPELINE] [OPTIONS]\n"
        "\n"
        "Generate text with the pipeline (default: the bundled model, greedy).\n"
        "\n"
        "Options:\n"
        "  -p, --prompt TEXT     the prompt (default: generate.prompt; '-' reads stdin)\n"
        "  -f, --prompt-file F   read the prompt from file F\n"
        "  --set SECTION.KEY=V   override a pipeline value; V is YAML flow syntax:\n"
        "                          --set generate.max_tokens=32\n"
        "                          --set 'generate.stop=[\" had\", \",\"]'\n"
        "                          --set 'samplers.+={plugin: top_k, k: 40}'\n"
        "                          --set samplers.top_k.k=20   (or samplers.0.k=20)\n"
        "  --sampler SPEC        append a sampler: a name or '{plugin: top_k, k: 40}'\n"
        "                        (same as --set samplers.+=SPEC)\n"
        "  --temp T, --top-k K, --top-p P, --min-p P, --repeat-penalty R\n"
        "                        set that sampler's value, adding the sampler (before\n"
        "                        the chain's dist, greedy or mirostat) when missing\n"
        "  --stop TEXT           stop string, taken literally; repeatable (replaces\n"
        "                        generate.stop)\n"
        "  -n, --max-tokens N    same as --set generate.max_tokens=N\n"
        "  --seed N              same as --set generate.seed=N; -1 picks a random seed,\n"
        "                        shown in the statistics and the JSON\n"
        "  -t, --threads N       same as --set generate.threads=N\n"
        "  --chat                send the prompt as a user message in the model's chat\n"
        "                        format (see decokit chat --help)\n"
        "  --chat-template NAME  --chat in format chatml, llama2, llama3 or mistral\n"
        "  --system TEXT         --chat with this system message first\n"
        "  --print-pipeline      print the resolved pipeline as YAML and exit\n"
        "  --json                print one JSON object (see decokit(1) for its schema)\n"
        "  --json-stream         JSON lines: an event per token as it is made, then\n"
        "                        the --json object as a final \"done\" event\n"
        "  --no-prompt           do not echo the prompt before the generated text\n"
        "  -q, --quiet           no statistics line on stderr\n"
        "  --plugin-path DIRS    search these folders for plugins first\n"
        "  -h, --help            show this help\n",
        f);
}

typedef struct stream_ctx {
  size_t n;
  size_t last;
  /* --json-stream: the token whose event waits for the text it makes safe
   * to show (which on_text delivers after on_token). */
  int jsonl, pending;
  decokit_run *run;
  size_t completion;
  dk_token_record tok;
  char *text;
  size_t text_len, text_cap;
} stream_ctx;

static void flush_token(stream_ctx *sc) {
  if (!sc->pending) return;
  dk_cli_json_token_event(stdout, dk_run_vocab(dk_api_run(sc->run)), sc->completion, &sc->tok,
                          sc->text ? sc->text : "", sc->text ? sc->text_len : 0);
  sc->pending = 0;
  sc->text_len = 0;
}

static void on_token(void *user, size_t completion, const decokit_token_info *t) {
  stream_ctx *sc = user;
  flush_token(sc);
  sc->pending = 1;
  sc->completion = completion;
  /* The alternatives are not kept: the done event has them. */
  sc->tok = (dk_token_record){.id = t->id,
                              .has_raw = t->has_logprob,
                              .has_proc = t->has_processed_logprob,
                              .raw_lp = t->logprob,
                              .proc_lp = t->processed_logprob};
}

static void on_text(void *user, size_t completion, const char *bytes, size_t len) {
  stream_ctx *sc = user;
  if (sc->jsonl) {
    /* Text always follows its token; a failed append only shortens an
     * event's text, the done event still has all of it. */
    if (sc->pending && sc->text_cap != DK_BUF_FAILED)
      dk_buf_append(&sc->text, &sc->text_len, &sc->text_cap, bytes, len);
    return;
  }
  if (sc->n > 1 && completion != sc->last) {
    printf("\n--- completion %zu ---\n", completion + 1);
    sc->last = completion;
  }
  dk_cli_write_text(stdout, bytes, len); /* the replacement policy of --json's text */
  fflush(stdout);
}

/* The statistics line: prompt and generation speed over every completion. */
static void print_stats(const decokit_result *res) {
  decokit_stats st = {.struct_size = sizeof st}, c = {.struct_size = sizeof c};
  uint64_t gen = 0, passes = 0;
  double t = 0;
  for (size_t i = 0; i < decokit_result_count(res); i++) {
    decokit_result_stats(res, i, &st);
    gen += st.generated_tokens;
    passes += st.forward_passes;
    t += st.time_total_s;
  }
  const char *stop = decokit_result_stop_reason(res, 0);
  decokit_result_stats(res, 0, &c);
  fprintf(stderr,
          "decokit: %zu prompt tokens (%.1f tok/s), %llu generated (%.1f tok/s), %llu forward "
          "passes, stop: %s, seed %lld, pipeline %s\n",
          c.prompt_tokens, c.time_prompt_s > 0 ? (double)c.prompt_tokens / c.time_prompt_s : 0.0,
          (unsigned long long)gen, t > 0 ? (double)gen / t : 0.0, (unsigned long long)passes,
          stop ? stop : "error", c.seed, c.fingerprint);
}

int dk_cmd_run(int argc, char **argv) {
  dk_cli_common c = {0};
  const char *prompt = NULL, *prompt_file = NULL, *chat_tmpl = NULL, *system = NULL;
  int chat = 0;
  int json = 0, jsonl = 0, quiet = 0, echo = 1, print_pipeline = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int r = dk_cli_common_opt(&c, argc, argv, &i, run_usage);
    if (r == DK_CLI_MINE) r = dk_cli_sampling_opt(&c, argc, argv, &i);
    if (r == DK_CLI_MINE) r = dk_cli_generate_opt(&c, argc, argv, &i);
    if (r == DK_CLI_NEXT) continue;
    if (r != DK_CLI_MINE) return r;
    if ((v = dk_cli_value("--prompt", argc, argv, &i)) || (v = dk_cli_value("-p", argc, argv, &i))) {
      prompt = v;
    } else if ((v = dk_cli_value("--prompt-file", argc, argv, &i)) ||
               (v = dk_cli_value("-f", argc, argv, &i))) {
      if (!dk_cli_nonempty("--prompt-file", v)) return DK_EXIT_USAGE;
      prompt_file = v;
    } else if ((v = dk_cli_value("--chat-template", argc, argv, &i))) {
      if (!dk_cli_nonempty("--chat-template", v)) return DK_EXIT_USAGE;
      chat_tmpl = v;
      chat = 1;
    } else if ((v = dk_cli_value("--system", argc, argv, &i))) {
      system = v;
      chat = 1;
    } else if (strcmp(a, "--chat") == 0) {
      chat = 1;
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if (strcmp(a, "--json-stream") == 0) {
      json = jsonl = 1;
    } else if (strcmp(a, "--print-pipeline") == 0) {
      print_pipeline = 1;
    } else if (strcmp(a, "--no-prompt") == 0) {
      echo = 0;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      quiet = 1;
    } else if (dk_cli_pipeline_arg(&c, "run", a) != DK_CLI_NEXT) {
      return DK_EXIT_USAGE;
    }
    if (c.n_sets >= sizeof c.sets / sizeof *c.sets) {
      dk_cli_error("run: too many --set options");
      return DK_EXIT_USAGE;
    }
  }
  if (chat && print_pipeline) {
    /* A pipeline cannot say that its prompt's special-token texts are
     * special tokens, so the printed one would run differently. */
    dk_cli_error("run: --print-pipeline cannot carry a --chat prompt (its special tokens)");
    return DK_EXIT_USAGE;
  }
  if (prompt && prompt_file) {
    dk_cli_error("run: give the prompt with --prompt or --prompt-file, not both");
    return DK_EXIT_USAGE;
  }
  char *owned_prompt = NULL;
  if (prompt && strcmp(prompt, "-") == 0) {
    prompt = owned_prompt = dk_cli_slurp(stdin);
    if (!prompt) {
      dk_cli_error("run: could not read the prompt from standard input (read error or out of memory)");
      return DK_EXIT_RUNTIME;
    }
  } else if (prompt_file) {
    dk_error ferr;
    dk_error_clear(&ferr);
    size_t plen;
    if (dk_textfile_read(prompt_file, "prompt", DK_PROMPT_MAX_BYTES, &owned_prompt, &plen, &ferr)) {
      dk_cli_error("run: %s", ferr.msg);
      return DK_EXIT_RUNTIME;
    }
    if (strlen(owned_prompt) != plen) {
      dk_cli_error("run: %s: the prompt contains a NUL byte", prompt_file);
      free(owned_prompt);
      return DK_EXIT_RUNTIME;
    }
    prompt = owned_prompt;
  }
  decokit_pipeline *dp;
  int status = dk_cli_open_pipeline(&c, &dp);
  if (status) {
    free(owned_prompt);
    return status;
  }
  /* The chat format and the JSON read the resolved pipeline itself. */
  dk_pipeline *p = dk_api_pipeline(dp);
  char *chat_prompt = NULL;
  if (chat) {
    int format = 0;
    status = dk_cli_chat_format(p, chat_tmpl, &format);
    dk_chat_msg msgs[2];
    size_t nm = 0;
    if (system) msgs[nm++] = (dk_chat_msg){"system", system};
    msgs[nm++] = (dk_chat_msg){"user", prompt ? prompt : dk_gen_string(p, "prompt")};
    dk_error cerr;
    dk_error_clear(&cerr);
    if (!status && (dk_chat_render((dk_chat_format)format, msgs, nm, 1, &chat_prompt, &cerr) ||
                    dk_cli_chat_stop(p, format))) {
      dk_cli_error("%s", cerr.msg[0] ? cerr.msg : "out of memory");
      status = DK_EXIT_RUNTIME;
    }
    if (status) {
      decokit_pipeline_free(dp);
      free(owned_prompt);
      return status;
    }
    prompt = chat_prompt;
  }
  decokit_error err = {.struct_size = sizeof err};
  if (print_pipeline) {
    /* The prompt given on the command line is part of what would run. */
    dk_error perr;
    dk_error_clear(&perr);
    char *yaml = NULL;
    if (prompt && dk_config_set(&p->generate.cfg, "prompt", prompt, &perr)) {
      dk_cli_error("%s", perr.msg);
      status = DK_EXIT_RUNTIME;
    }
    if (!status && !(yaml = decokit_pipeline_yaml(dp, &err))) {
      dk_cli_error("%s", err.message);
      status = DK_EXIT_RUNTIME;
    }
    if (yaml) fputs(yaml, stdout);
    decokit_free(yaml);
    decokit_pipeline_free(dp);
    free(owned_prompt);
    free(chat_prompt);
    return status;
  }
  stream_ctx sc = {.n = (size_t)dk_gen_int(p, "n"), .jsonl = jsonl};
  decokit_run_opts opts = {.struct_size = sizeof opts,
                           .on_text = json && !jsonl ? NULL : on_text,
                           .user = &sc,
                           .record_logprobs = json,
                           .should_abort = dk_cli_should_abort,
                           .parse_special = chat,
                           .on_token = jsonl ? on_token : NULL};
  struct sigaction old_sa;
  dk_cli_catch_sigint(&old_sa);
  decokit_run *run = NULL;
  decokit_result *res = NULL;
  int rc = decokit_run_new(dp, &opts, &run, &err);
  if (rc) {
    dk_cli_error("%s", err.message);
    status = dk_cli_exit_status(rc);
    goto out;
  }
  const char *ptext = prompt ? prompt : dk_gen_string(p, "prompt");
  if (!json && echo) {
    on_text(&(stream_ctx){.n = 1}, 0, ptext, strlen(ptext));
  }
  sc.run = run;
  rc = decokit_run_generate(run, prompt, &res, &err);
  flush_token(&sc);
  free(sc.text);
  if (json && res) {
    /* The settings in the JSON are those the run used, prompt included
     * (the fingerprint, already taken, is the pipeline's). */
    if (prompt) {
      dk_error perr;
      dk_config_set(&p->generate.cfg, "prompt", prompt, &perr);
    }
    dk_cli_print_json(stdout, dk_api_result(res), dk_api_run(run), p,
                      (int)dk_gen_int(p, "logprobs"), jsonl);
  } else if (res) {
    putchar('\n');
  }
  fflush(stdout);
  if (rc) {
    dk_cli_error("%s", err.message);
    status = DK_EXIT_RUNTIME;
  } else if (dk_cli_interrupted()) {
    dk_cli_error("interrupted: the output above is what was generated");
    status = DK_EXIT_INTERRUPTED;
  }
  if (!quiet && res && !json) print_stats(res);
out:
  sigaction(SIGINT, &old_sa, NULL);
  decokit_result_free(res);
  decokit_run_free(run);
  decokit_pipeline_free(dp);
  free(owned_prompt);
  free(chat_prompt);
  return status;
}
