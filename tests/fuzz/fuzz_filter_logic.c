/*
 * fuzz_filter_logic.c: a sync's filter_logic expression (D16), through ms_filter_logic_parse()
 * and ms_filter_logic_bind() as model/sync_filter.c calls them (the engine parses the stored
 * text again with the same function). The input is the expression text. Besides the
 * sanitizers: the tree is well formed (labels are words, NOT has one operand), and printing it
 * with the fewest parentheses parses back to the same tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/buf.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_filter_logic: check failed: %s (line %d)\n", #c, __LINE__);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void
fz_check_tree(const struct ms_flx *n)
{
    FZ_CHECK(n != NULL);
    switch (n->kind) {
    case MS_FLX_LABEL:
        FZ_CHECK(n->label != NULL && n->label[0] != '\0' && n->a == NULL && n->b == NULL);
        FZ_CHECK(strspn(n->label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789_") == strlen(n->label));
        return;
    case MS_FLX_NOT:
        FZ_CHECK(n->b == NULL);
        fz_check_tree(n->a);
        return;
    case MS_FLX_AND:
    case MS_FLX_OR:
        fz_check_tree(n->a);
        fz_check_tree(n->b);
        return;
    }
    FZ_CHECK(!"unknown node kind");
}

/* Binding strength: OR 1, AND 2, NOT and labels 3. */
static int
fz_prec(const struct ms_flx *n)
{
    return n->kind == MS_FLX_OR ? 1 : n->kind == MS_FLX_AND ? 2 : 3;
}

static void fz_print(const struct ms_flx *n, struct ms_buf *b);

static void
fz_operand(const struct ms_flx *n, int min, struct ms_buf *b)
{
    bool paren = fz_prec(n) < min;

    (void)ms_buf_add(b, "(", paren);
    fz_print(n, b);
    (void)ms_buf_add(b, ")", paren);
}

/* AND and OR chains are left-associative: only a right operand of the same kind needs ( ). */
static void
fz_print(const struct ms_flx *n, struct ms_buf *b)
{
    switch (n->kind) {
    case MS_FLX_LABEL:
        (void)ms_buf_addf(b, "%s", n->label);
        return;
    case MS_FLX_NOT:
        (void)ms_buf_addf(b, "NOT ");
        fz_operand(n->a, 3, b);
        return;
    case MS_FLX_AND:
    case MS_FLX_OR:
        fz_operand(n->a, fz_prec(n), b);
        (void)ms_buf_addf(b, n->kind == MS_FLX_AND ? " AND " : " OR ");
        fz_operand(n->b, fz_prec(n) + 1, b);
        return;
    }
}

static bool
fz_same(const struct ms_flx *x, const struct ms_flx *y)
{
    if (x == NULL || y == NULL)
        return x == y;
    if (x->kind != y->kind)
        return false;
    if (x->kind == MS_FLX_LABEL)
        return strcmp(x->label, y->label) == 0;
    return fz_same(x->a, y->a) && fz_same(x->b, y->b);
}

/* Filters labeled a, b, c and x1: bind succeeds iff every label is one of them. */
static bool
fz_known(const struct ms_flx *n)
{
    static const char *const known[] = {"a", "b", "c", "x1"};

    if (n == NULL)
        return true;
    if (n->kind != MS_FLX_LABEL)
        return fz_known(n->a) && fz_known(n->b);
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(n->label, known[i]) == 0)
            return true;
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *filters;
    struct ms_arena *a = ms_arena_new();
    char *text = malloc(size + 1);
    struct ms_flx *ast = NULL, *again = NULL;
    struct ms_error err;
    struct ms_buf b;
    enum ms_status st;

    if (filters == NULL)
        filters = json_pack("[{s:s}, {s:s}, {s:s}, {}, {s:s}]", "label", "a", "label", "b", "label",
                            "c", "label", "x1");
    FZ_CHECK(text != NULL && filters != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    st = ms_filter_logic_parse(a, text, &ast, &err);
    FZ_CHECK(st == MS_OK || st == MS_EINVAL);
    FZ_CHECK(st == MS_OK || strcmp(err.field, "filter_logic") == 0);
    if (st == MS_OK) {
        fz_check_tree(ast);
        st = ms_filter_logic_bind(ast, filters, &err);
        FZ_CHECK(st == (fz_known(ast) ? MS_OK : MS_EUNPROC));
        ms_buf_init(&b, 4 * MS_FILTER_LOGIC_MAX);
        fz_print(ast, &b);
        if (b.len <= MS_FILTER_LOGIC_MAX) {
            st = ms_filter_logic_parse(a, ms_buf_str(&b), &again, &err);
            if (st != MS_OK || !fz_same(ast, again)) {
                fprintf(stderr, "fuzz_filter_logic: printed tree differs: %s (%s)\n",
                        ms_buf_str(&b), st != MS_OK ? err.msg : "other tree");
                abort();
            }
        }
        ms_buf_release(&b);
    }
    free(text);
    ms_arena_free(a);
    return 0;
}
