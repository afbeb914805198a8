/* cmd_chat.c -- `decokit chat`: a conversation with line editing, and the chat format of a model for run --chat. */
#include "cli.h"

#include "chat_template.h"
#include "gguf.h"

#include <editline/readline.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The model's own template (GGUF tokenizer.chat_template), or NULL. */
static char *model_template(const dk_pipeline *p) {
  if (!p->model || !p->model->plugin || strcmp(p->model->plugin, "llama") != 0) return NULL;
  const char *path = dk_cfg_string(&p->model->cfg, "path");
  if (!path) return NULL;
  char msg[256];
  gguf_file *f = gguf_open(path, msg, sizeof msg);
  if (!f) return NULL; /* the model plugin reports an unreadable file itself */
  gguf_str s;
  char *t = gguf_get_str(f, "tokenizer.chat_template", &s) == 0 ? dk_strndup(s.ptr, (size_t)s.len) : NULL;
  gguf_close(f);
  return t;
}

int dk_cli_chat_format(const dk_pipeline *p, const char *name, int *out) {
  if (!name || !*name) name = dk_gen_string(p, "chat_template");
  if (*name && strcmp(name, "auto") != 0) {
    *out = dk_chat_format_named(name);
    if (*out) return DK_EXIT_OK;
    dk_cli_error("unknown chat template '%s' (expected auto, chatml, llama2, llama3 or mistral)", name);
    return DK_EXIT_USAGE;
  }
  char *t = model_template(p);
  *out = dk_chat_detect(t);
  free(t);
  if (*out) return DK_EXIT_OK;
  dk_cli_error("%s: the model's chat template is %s; name one with --chat-template or "
               "generate.chat_template (chatml, llama2, llama3 or mistral)",
               p->file, t ? "none that decokit recognises" : "missing");
  return DK_EXIT_PIPELINE;
}

int dk_cli_chat_stop(dk_pipeline *p, int format) {
  /* The end of the assistant's turn, when the model writes it as text. */
  const char *eot = dk_chat_end_of_turn((dk_chat_format)format);
  size_t n = dk_gen_list_len(p, "stop");
  const char **list = calloc(n + 1, sizeof *list);
  if (!list) return DK_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) list[i] = dk_gen_list_item(p, "stop", i);
  list[n] = eot;
  dk_error err;
  int rc = dk_config_set_list(&p->generate.cfg, "stop", list, n + 1, &err);
  free(list);
  return rc;
}

static void on_text(void *user, size_t completion, const char *bytes, size_t len) {
  (void)user;
  (void)completion;
  dk_cli_write_text(stdout, bytes, len);
  fflush(stdout);
}

static void chat_usage(FILE *f) {
  fputs("Usage: decokit chat [PIPELINE] [OPTIONS]\n"
        "\n"
        "Talk with a model that has a chat template: each line you type is a user\n"
        "message, and the model's reply follows it.  On a terminal, lines can be\n"
        "edited and recalled (libedit); otherwise lines are read from standard input.\n"
        "/reset forgets the conversation, /quit or end of input (Ctrl-D) ends it;\n"
        "Ctrl-C stops a reply.\n"
        "\n"
        "Options:\n"
        "  --chat-template NAME  chatml, llama2, llama3, mistral, or auto (default: the\n"
        "                        pipeline's generate.chat_template, else auto: the\n"
        "                        model's tokenizer.chat_template)\n"
        "  --system TEXT         a system message to start the conversation with\n"
        "  --set SECTION.KEY=V, --sampler SPEC, --temp T, --top-k K, --top-p P,\n"
        "  --min-p P, --repeat-penalty R, --stop TEXT\n"
        "                        as for decokit run\n"
        "  -n, --max-tokens N    longest reply, in tokens\n"
        "  --seed N              same as --set generate.seed=N (-1: random)\n"
        "  -t, --threads N       same as --set generate.threads=N\n"
        "  -q, --quiet           no statistics line after each reply\n"
        "  --plugin-path DIRS    search these folders for plugins first\n"
        "  -h, --help            show this help\n",
        f);
}

typedef struct convo {
  dk_chat_msg *m;
  size_t n, cap;
} convo;

static int convo_add(convo *c, const char *role, const char *content, size_t len) {
  if (c->n == c->cap) {
    size_t nc = c->cap ? 2 * c->cap : 16;
    dk_chat_msg *t = realloc(c->m, nc * sizeof *t);
    if (!t) return DK_ERR_NOMEM;
    c->m = t;
    c->cap = nc;
  }
  char *s = dk_strndup(content, len);
  if (!s) return DK_ERR_NOMEM;
  c->m[c->n].role = role;
  c->m[c->n++].content = s;
  return DK_OK;
}

static void convo_drop(convo *c, size_t keep) {
  while (c->n > keep) free((char *)c->m[--c->n].content);
}

/* One line without its newline; NULL at the end of input. */
static char *read_line(int tty, const char *prompt) {
  if (tty) {
    char *l = readline(prompt);
    if (l && *l) add_history(l);
    return l;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n < 0) {
    free(line);
    return NULL;
  }
  if (n && line[n - 1] == '\n') line[n - 1] = '\0';
  return line;
}

int dk_cmd_chat(int argc, char **argv) {
  dk_cli_common c = {0};
  const char *tmpl = NULL, *system = NULL;
  int quiet = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int r = dk_cli_common_opt(&c, argc, argv, &i, chat_usage);
    if (r == DK_CLI_MINE) r = dk_cli_sampling_opt(&c, argc, argv, &i);
    if (r == DK_CLI_MINE) r = dk_cli_generate_opt(&c, argc, argv, &i);
    if (r == DK_CLI_NEXT) continue;
    if (r != DK_CLI_MINE) return r;
    if ((v = dk_cli_value("--chat-template", argc, argv, &i))) {
      if (!dk_cli_nonempty("--chat-template", v)) return DK_EXIT_USAGE;
      tmpl = v;
    } else if ((v = dk_cli_value("--system", argc, argv, &i))) {
      system = v;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      quiet = 1;
    } else if (dk_cli_pipeline_arg(&c, "chat", a) != DK_CLI_NEXT) {
      return DK_EXIT_USAGE;
    }
    if (c.n_sets >= sizeof c.sets / sizeof *c.sets) {
      dk_cli_error("chat: too many --set options");
      return DK_EXIT_USAGE;
    }
  }
  decokit_pipeline *dp;
  int status = dk_cli_open_pipeline(&c, &dp);
  if (status) return status;
  /* The chat format is read from the resolved pipeline and its model. */
  dk_pipeline *p = dk_api_pipeline(dp);
  int format = 0;
  status = dk_cli_chat_format(p, tmpl, &format);
  if (!status && dk_gen_int(p, "n") != 1) {
    dk_cli_error("chat: generate.n must be 1 (one reply a turn)");
    status = DK_EXIT_USAGE;
  }
  if (!status && dk_cli_chat_stop(p, format)) {
    dk_cli_error("out of memory");
    status = DK_EXIT_RUNTIME;
  }
  decokit_run *run = NULL;
  decokit_error err = {.struct_size = sizeof err};
  /* logprobs < 0: no alternatives are kept, whatever the pipeline says. */
  decokit_run_opts opts = {.struct_size = sizeof opts, .on_text = on_text, .logprobs = -1,
                           .should_abort = dk_cli_should_abort, .parse_special = 1};
  int made = status ? DK_OK : decokit_run_new(dp, &opts, &run, &err);
  if (made) {
    dk_cli_error("%s", err.message);
    status = dk_cli_exit_status(made);
  }
  convo cv = {NULL, 0, 0, };
  if (!status && system && convo_add(&cv, "system", system, strlen(system))) status = DK_EXIT_RUNTIME;
  size_t base = cv.n;
  int tty = isatty(STDIN_FILENO);
  if (!status && tty && !quiet)
    fprintf(stderr, "decokit: chat with %s (format %s); /reset, /quit, Ctrl-D to end\n",
            dk_cfg_string(&p->model->cfg, "path") ? dk_cfg_string(&p->model->cfg, "path") : p->model->plugin,
            dk_chat_format_name((dk_chat_format)format));
  while (!status) {
    char *line = read_line(tty, "> ");
    if (!line) break;
    if (!*line) {
      free(line);
      continue;
    }
    if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) {
      free(line);
      break;
    }
    if (strcmp(line, "/reset") == 0) {
      free(line);
      convo_drop(&cv, base);
      continue;
    }
    size_t before = cv.n;
    int rc = convo_add(&cv, "user", line, strlen(line));
    free(line);
    char *prompt = NULL;
    dk_error cerr;
    dk_error_clear(&cerr);
    if (!rc) rc = dk_chat_render((dk_chat_format)format, cv.m, cv.n, 1, &prompt, &cerr);
    if (rc) {
      dk_cli_error("%s", rc == DK_ERR_NOMEM ? "out of memory" : cerr.msg);
      convo_drop(&cv, before);
      status = DK_EXIT_RUNTIME;
      break;
    }
    struct sigaction old_sa;
    dk_cli_catch_sigint(&old_sa);
    decokit_result *res = NULL;
    rc = decokit_run_generate(run, prompt, &res, &err);
    sigaction(SIGINT, &old_sa, NULL);
    putchar('\n');
    fflush(stdout);
    if (rc) {
      /* The turn is forgotten, the conversation goes on (e.g. after a
       * context-length error, /reset makes room). */
      dk_cli_error("%s", err.message);
      convo_drop(&cv, before);
    } else if (decokit_result_count(res)) {
      size_t len;
      const char *text = decokit_result_text(res, 0, &len);
      if (convo_add(&cv, "assistant", text, len)) {
        dk_cli_error("out of memory");
        status = DK_EXIT_RUNTIME;
      }
      decokit_stats st = {.struct_size = sizeof st};
      if (!quiet && decokit_result_stats(res, 0, &st) == DECOKIT_OK)
        fprintf(stderr, "decokit: %zu prompt tokens, %zu generated, stop: %s, seed %lld\n",
                st.prompt_tokens, st.generated_tokens, decokit_result_stop_reason(res, 0), st.seed);
    }
    decokit_result_free(res);
    free(prompt);
  }
  convo_drop(&cv, 0);
  free(cv.m);
  decokit_run_free(run);
  decokit_pipeline_free(dp);
  return status;
}
