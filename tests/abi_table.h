/* abi_table.h -- the frozen LP64 layout of ABI 1.x: sizes and offsets that must never change. */
#ifndef DK_ABI_TABLE_H
#define DK_ABI_TABLE_H

#include <decokit/plugin.h>

/* Appending a member at an "ABI 1.1 and later" marker changes only the
 * enclosing struct's size: update that size here, never an offset. */
#define DK_ABI_SIZES(X) \
  X(dk_token_data, 12) \
  X(dk_candidates, 32) \
  X(dk_draft, 32) \
  X(dk_param_spec, 48) \
  X(dk_vocab, 48) \
  X(dk_create_info, 48) \
  X(dk_host, 320) \
  X(dk_model_ref, 24) \
  X(dk_iface_header, 48) \
  X(dk_model_info, 64) \
  X(dk_model_iface, 240) \
  X(dk_decoder_iface, 88) \
  X(dk_drafter_iface, 120) \
  X(dk_constraint_iface, 112) \
  X(dk_sampler_iface, 96) \
  X(dk_scorer_iface, 88) \
  X(dk_sample_ctx, 32) \
  X(dk_plugin_desc, 56) \
  X(dk_draft_dist, 32) \
  X(dk_verify_feedback, 72) \
  X(dk_limits, 56) \
  X(dk_token_logprob, 32) \
  X(dk_batch, 80) \
  X(dk_masked_eval, 96) \
  X(dk_masked_batch, 96)

/* Flag values are part of the ABI too: a plugin compiled against one minor
 * sets the same bits another host reads.  Bits are only ever added. */
#define DK_ABI_CONSTANTS(X) \
  X(DK_CAP_NO_ALLOC, 1) \
  X(DK_CAP_INSTANCE_MT, 2) \
  X(DK_CAP_DECODER_NO_PREFILL, 256) \
  /* since 1.2 */ \
  X(DK_CAP_DECODER_USES_DRAFTER, 512) \
  X(DK_CAP_DECODER_USES_DRAFT_MODEL, 1024) \
  X(DK_CAP_DECODER_USES_SCORERS, 2048) \
  X(DK_CAP_DRAFTER_NEEDS_DRAFT_MODEL, 4096) \
  X(DK_CAP_SCORER_USES_DRAFT_MODEL, 8192) \
  X(DK_CAP_DECODER_NEEDS_SCORERS, 16384) \
  X(DK_CAP_NEEDS_HIDDEN, 32768) \
  /* since 1.3 */ \
  X(DK_MODEL_CAP_MASKED_BATCH, 8192)

#define DK_ABI_OFFSETS(X) \
  X(dk_token_data, logit, 4) \
  X(dk_token_data, p, 8) \
  X(dk_candidates, n, 8) \
  X(dk_candidates, selected, 16) \
  X(dk_candidates, flags, 24) \
  X(dk_draft, parents, 8) \
  X(dk_draft, cap, 24) \
  X(dk_param_spec, def, 16) \
  X(dk_param_spec, min, 24) \
  X(dk_param_spec, doc, 40) \
  X(dk_vocab, bos, 8) \
  X(dk_vocab, piece, 24) \
  X(dk_vocab, attr, 40) \
  X(dk_create_info, config, 8) \
  X(dk_create_info, rng, 16) \
  X(dk_create_info, vocab, 32) \
  X(dk_create_info, n_threads, 40) \
  X(dk_host, log, 8) \
  X(dk_host, set_error, 16) \
  X(dk_host, cfg_int, 24) \
  X(dk_host, rng_u64, 80) \
  X(dk_host, cand_sort, 96) \
  X(dk_host, session_model, 120) \
  X(dk_host, session_sample, 192) \
  X(dk_host, commit, 208) \
  X(dk_host, get_proc, 232) \
  X(dk_iface_header, kind, 4) \
  X(dk_iface_header, name, 8) \
  X(dk_iface_header, params, 32) \
  X(dk_iface_header, param_stride, 40) \
  X(dk_iface_header, caps, 44) \
  X(dk_model_info, n_vocab, 4) \
  X(dk_model_info, bos, 16) \
  X(dk_model_info, caps, 32) \
  X(dk_model_info, arch, 40) \
  X(dk_model_iface, create, 48) \
  X(dk_model_iface, info, 64) \
  X(dk_model_iface, eval, 96) \
  X(dk_model_iface, tokenize, 104) \
  X(dk_model_iface, token_piece, 112) \
  X(dk_model_iface, token_attr, 120) \
  X(dk_model_iface, eval_tree, 144) \
  X(dk_model_iface, hidden, 184) \
  X(dk_model_iface, describe, 192) \
  X(dk_decoder_iface, step, 72) \
  X(dk_drafter_iface, propose, 64) \
  X(dk_drafter_iface, observe, 72) \
  X(dk_constraint_iface, mask, 64) \
  X(dk_constraint_iface, is_complete, 96) \
  X(dk_constraint_iface, forced, 104) \
  X(dk_sampler_iface, apply, 64) \
  X(dk_sampler_iface, clone, 88) \
  X(dk_scorer_iface, score, 64) \
  X(dk_sample_ctx, tokens, 8) \
  X(dk_sample_ctx, n_prompt, 24) \
  X(dk_plugin_desc, abi_major, 4) \
  X(dk_plugin_desc, abi_minor, 6) \
  X(dk_plugin_desc, name, 8) \
  X(dk_plugin_desc, components, 24) \
  X(dk_plugin_desc, n_components, 32) \
  X(dk_plugin_desc, init, 40) \
  X(dk_plugin_desc, fini, 48) \
  /* since 1.1 */ \
  X(dk_host, session_sample_ex, 240) \
  X(dk_host, commit_ex, 256) \
  X(dk_host, branch_new, 264) \
  X(dk_host, session_limits, 296) \
  X(dk_host, session_add_result, 312) \
  X(dk_model_info, attention, 48) \
  X(dk_model_info, logit_shift, 52) \
  X(dk_model_info, n_layer, 56) \
  X(dk_model_iface, eval_ragged, 200) \
  X(dk_model_iface, eval_masked_seq, 208) \
  X(dk_model_iface, set_abort, 216) \
  X(dk_model_iface, clone_shared, 224) \
  X(dk_drafter_iface, begin, 88) \
  X(dk_drafter_iface, propose_dist, 104) \
  X(dk_drafter_iface, observe_verified, 112) \
  X(dk_scorer_iface, score_batch, 72) \
  X(dk_scorer_iface, score_next, 80) \
  X(dk_draft_dist, k, 8) \
  X(dk_draft_dist, ids, 16) \
  X(dk_draft_dist, probs, 24) \
  X(dk_verify_feedback, accepted, 8) \
  X(dk_verify_feedback, n_positions, 32) \
  X(dk_verify_feedback, pos_tokens, 48) \
  X(dk_verify_feedback, top_logits, 64) \
  X(dk_limits, max_tokens_left, 8) \
  X(dk_limits, context_left, 16) \
  X(dk_limits, ignore_eos, 24) \
  X(dk_limits, n_stop, 40) \
  X(dk_limits, stop, 48) \
  X(dk_token_logprob, raw, 4) \
  X(dk_token_logprob, processed, 8) \
  X(dk_token_logprob, logits, 16) \
  X(dk_token_logprob, dist, 24) \
  X(dk_batch, n_seqs, 8) \
  X(dk_batch, tokens, 32) \
  X(dk_batch, output, 40) \
  X(dk_batch, logits, 48) \
  X(dk_batch, hidden, 56) \
  X(dk_batch, out_ids, 64) \
  X(dk_batch, n_out_ids, 72) \
  X(dk_masked_eval, seq, 4) \
  X(dk_masked_eval, tokens, 8) \
  X(dk_masked_eval, attention, 24) \
  X(dk_masked_eval, flags, 40) \
  X(dk_masked_eval, active_begin, 48) \
  X(dk_masked_eval, rows, 64) \
  X(dk_masked_eval, logits, 80) \
  X(dk_masked_eval, n_commit, 88) \
  /* since 1.3 */ \
  X(dk_model_iface, eval_masked_batch, 232) \
  X(dk_masked_batch, seq, 4) \
  X(dk_masked_batch, tokens, 8) \
  X(dk_masked_batch, n, 16) \
  X(dk_masked_batch, n_canvas, 24) \
  X(dk_masked_batch, attention, 32) \
  X(dk_masked_batch, block_len, 40) \
  X(dk_masked_batch, flags, 48) \
  X(dk_masked_batch, active_begin, 56) \
  X(dk_masked_batch, active_end, 64) \
  X(dk_masked_batch, rows, 72) \
  X(dk_masked_batch, n_rows, 80) \
  X(dk_masked_batch, logits, 88)

#endif
