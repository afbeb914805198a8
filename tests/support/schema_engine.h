/* schema_engine.h -- what the JSON Schema tests share: compiling a schema or GBNF to an engine and matching whole strings. */
#ifndef DK_TEST_SCHEMA_ENGINE_H
#define DK_TEST_SCHEMA_ENGINE_H

#include "grammar.h"

/* The vocabulary {"a", "</s>"}: the schema tests match bytes, not tokens. */
dkg_vocab *se_byte_vocab(void);
/* Compiles gbnf (freed here) over v; fails the test on an error. */
dkg_engine *se_compile(dkg_vocab *v, char *gbnf);
/* Converts the schema with the given whitespace mode and compiles it over v. */
dkg_engine *se_schema(dkg_vocab *v, const char *json, int ws);
/* 1 when the whole of s is in the engine's language. */
int se_matches(dkg_engine *e, const char *s);

#endif
