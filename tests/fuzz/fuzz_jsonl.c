/*
 * fuzz_jsonl.c: JSON Lines files (one object per line, keys discovered over the first rows,
 * nested values, NUL escapes) read through the jsonl connector as the server reads a model;
 * the shared driver is in fuzz_rows.h.
 */
#define FZ_TYPE "jsonl"
#define FZ_EXT ".jsonl"
/* Padding: one blank line of spaces before what follows the '@'. */
#define FZ_PAD_FILL ' '
#define FZ_PAD_LAST '\n'
#include "fuzz_rows.h"
