/* diverse_beam.c -- diverse (group) beam search: groups of beams, each penalised for the tokens earlier groups chose at the same step. */
#include "beam_search.h"

#include <stddef.h>

static const dk_param_spec dbs_params[] = {
    {"width", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "4", 1, 1024,
     "Beams in all, split evenly into the groups; all of them advance in one batched model "
     "call."},
    {"groups", DK_PARAM_INT, DK_PARAM_MIN | DK_PARAM_MAX, "2", 1, 1024,
     "Number of groups G; must divide width.  1 is plain beam search."},
    {"diversity", DK_PARAM_DOUBLE, DK_PARAM_MIN, "0.5", 0, 0,
     "Hamming diversity strength lambda: a group's log-probability of a token drops by lambda "
     "for every beam of an earlier group that chose it at this step.  Scores keep the "
     "penalties."},
    BS_COMMON_PARAMS,
    {NULL, 0, 0, NULL, 0, 0, NULL}};

static int dbs_create(const dk_host *h, const dk_create_info *ci, void **inst, dk_error *err) {
  bs_params p;
  int rc = bs_read_params(h, ci->config, &p, err);
  if (rc) return rc;
  p.groups = (size_t)h->cfg_int(ci->config, "groups");
  p.diversity = h->cfg_double(ci->config, "diversity");
  return bs_create(h, ci, &p, inst, err);
}

static const dk_decoder_iface dbs_iface = {
    .hdr = {.struct_size = sizeof(dk_decoder_iface),
            .kind = DK_KIND_DECODER,
            .name = "diverse_beam",
            .version = "1.0.0",
            .summary = "diverse beam search: groups of beams with a Hamming diversity penalty",
            .params = dbs_params,
            .param_stride = sizeof(dk_param_spec),
            .caps = DK_CAP_INSTANCE_MT},
    .create = dbs_create,
    .destroy = bs_destroy,
    .begin = bs_begin,
    .step = bs_step,
    .end = bs_end,
};

static const dk_iface_header *const components[] = {&dbs_iface.hdr};

static const dk_plugin_desc desc = {
    DK_PLUGIN_DESC_HEAD, "diverse_beam", "1.0.0", components, 1, NULL, NULL,
};

DK_PLUGIN_ENTRY(diverse_beam) { return &desc; }
