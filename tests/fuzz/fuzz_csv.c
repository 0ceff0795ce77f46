/*
 * fuzz_csv.c: CSV files (RFC 4180: quoting, CRLF, BOM, blank lines, ragged rows) read through
 * the csv connector as the server reads a model; the shared driver is in fuzz_rows.h.
 */
#define FZ_TYPE "csv"
#define FZ_EXT ".csv"
/* Padding: a first header name of plain bytes, which what follows the '@' continues. */
#define FZ_PAD_FILL 'x'
#define FZ_PAD_LAST 'x'
#include "fuzz_rows.h"
