/*
 * sync_filter.c: a sync's filters, overrides and filter_logic (API.md §3.4, §3.5, §4.4, D16).
 *
 * Each FilterFunction has one operand shape, checked here so that the engine can evaluate a
 * stored filter without second-guessing it. filter_logic is a tiny boolean language over
 * filter labels, parsed by recursive descent into an arena AST (NOT binds tightest, then AND,
 * then OR); the same parser serves validation now and evaluation in the engine, so the two
 * cannot disagree. Nesting is capped, so hostile input cannot exhaust the stack. Pure
 * functions, any thread.
 */
#include "model/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/time.h"

#define FLT_PATH 64

enum flt_operand {
    FLT_NONE,     /* no value */
    FLT_SCALAR,   /* string, number or boolean */
    FLT_STRING,   /* string */
    FLT_DATE,     /* "YYYY-MM-DD" or an RFC 3339 date-time */
    FLT_ORDERED,  /* number, or a string holding a number or a date */
    FLT_STRINGS,  /* string[] */
    FLT_BETWEEN,  /* [low, high] of FLT_ORDERED values */
    FLT_RELATIVE, /* {"value": int, "unit": ...} */
};

static const struct flt_fn {
    const char *name;
    enum flt_operand op;
} flt_fns[] = {
    {"Equality", FLT_SCALAR},
    {"Inequality", FLT_SCALAR},
    {"IsNull", FLT_NONE},
    {"IsNotNull", FLT_NONE},
    {"True", FLT_NONE},
    {"False", FLT_NONE},
    {"OnOrAfter", FLT_DATE},
    {"OnOrBefore", FLT_DATE},
    {"GreaterThan", FLT_ORDERED},
    {"GreaterThanEqual", FLT_ORDERED},
    {"LessThan", FLT_ORDERED},
    {"LessThanEqual", FLT_ORDERED},
    {"StringContains", FLT_STRING},
    {"StringStartsWith", FLT_STRING},
    {"StringEndsWith", FLT_STRING},
    {"StringDoesNotContain", FLT_STRING},
    {"StringDoesNotStartWith", FLT_STRING},
    {"StringDoesNotEndWith", FLT_STRING},
    {"StringOneOf", FLT_STRINGS},
    {"StringNotOneOf", FLT_STRINGS},
    {"Between", FLT_BETWEEN},
    {"ArrayContains", FLT_SCALAR},
    {"ArrayDoesNotContain", FLT_SCALAR},
    {"InTheLast", FLT_RELATIVE},
    {"RelativeOnOrBefore", FLT_RELATIVE},
    {"RelativeOnOrAfter", FLT_RELATIVE},
    {"StringLike", FLT_STRING},
    {"StringNotLike", FLT_STRING},
    {"StringMatchesTrimmed", FLT_STRING},
};

static const char *const flt_units[] = {"minutes", "hours", "days", "weeks", "months"};

static const struct flt_fn *
flt_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < MS_ARRAY_LEN(flt_fns); i++)
        if (strcmp(name, flt_fns[i].name) == 0)
            return &flt_fns[i];
    return NULL;
}

bool
ms_sync_filter_function_valid(const char *fn)
{
    return flt_find(fn) != NULL;
}

static const char *flt_path(char *buf, const char *fmt, ...) MS_PRINTF(2, 3);

static const char *
flt_path(char *buf, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, FLT_PATH, fmt, ap);
    va_end(ap);
    return buf;
}

static json_t *
flt_get(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}

/* ---- operands ---- */

static bool
flt_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

/* "YYYY-MM-DD" with a plausible month and day, or an RFC 3339 date-time. */
static bool
flt_is_date(const char *s)
{
    int64_t ms;

    if (strlen(s) == 10 && flt_digits(s, 4) && s[4] == '-' && flt_digits(s + 5, 2) && s[7] == '-' &&
        flt_digits(s + 8, 2)) {
        int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');

        return m >= 1 && m <= 12 && d >= 1 && d <= 31;
    }
    return ms_time_parse(s, &ms) == MS_OK;
}

/* A decimal number: -?digits(.digits)? */
static bool
flt_is_number(const char *s)
{
    size_t i = s[0] == '-' ? 1 : 0, n = strlen(s), dot = strcspn(s + i, ".") + i;

    if (dot == n)
        return flt_digits(s + i, n - i);
    return flt_digits(s + i, dot - i) && flt_digits(s + dot + 1, n - dot - 1);
}

static bool
flt_is_ordered(const json_t *v)
{
    return json_is_number(v) || (json_is_string(v) && (flt_is_number(json_string_value(v)) ||
                                                       flt_is_date(json_string_value(v))));
}

static enum ms_status
flt_strings(const json_t *v, const char *path, struct ms_error *err)
{
    json_t *e;
    char p[FLT_PATH];
    size_t i;

    if (!json_is_array(v))
        return ms_fail_at(err, MS_EINVAL, path, "must be an array of strings");
    if (json_array_size(v) > MS_SYNC_MAX_ITEMS)
        return ms_fail_at(err, MS_ETOOBIG, path, "more than %d entries", MS_SYNC_MAX_ITEMS);
    json_array_foreach((json_t *)(uintptr_t)v, i, e)
    {
        if (!json_is_string(e))
            return ms_fail_at(err, MS_EINVAL, flt_path(p, "%s[%zu]", path, i), "must be a string");
    }
    return MS_OK;
}

/* {"value": int, "unit": ...} → a new normalized copy in *out. */
static enum ms_status
flt_relative(const char *fn, const json_t *v, const char *path, json_t **out, struct ms_error *err)
{
    json_t *n = flt_get(v, "value"), *u = flt_get(v, "unit");
    char p[FLT_PATH];
    size_t i;

    if (!json_is_object(v))
        return ms_fail_at(err, MS_EINVAL, path,
                          "must be an object {\"value\": <integer>, \"unit\": \"days\"}");
    if (!json_is_integer(n))
        return ms_fail_at(err, MS_EINVAL, flt_path(p, "%s.value", path), "must be an integer");
    if (json_integer_value(n) < (strcmp(fn, "InTheLast") == 0 ? 1 : -1000000) ||
        json_integer_value(n) > 1000000)
        return ms_fail_at(err, MS_EINVAL, flt_path(p, "%s.value", path), "out of range");
    for (i = 0; i < MS_ARRAY_LEN(flt_units); i++)
        if (json_is_string(u) && strcmp(json_string_value(u), flt_units[i]) == 0)
            break;
    if (i == MS_ARRAY_LEN(flt_units))
        return ms_fail_at(err, MS_EINVAL, flt_path(p, "%s.unit", path),
                          "must be minutes, hours, days, weeks or months");
    *out = json_pack("{s:O,s:O}", "value", n, "unit", u);
    return MS_OK;
}

/* Check value (NULL when absent) for fn; *out = the value to store (new ref, NULL for none). */
static enum ms_status
flt_operand(const struct flt_fn *fn, const json_t *v, const char *path, json_t **out,
            struct ms_error *err)
{
    bool ok = true;

    *out = NULL;
    if (fn->op == FLT_NONE) {
        if (v != NULL)
            return ms_fail_at(err, MS_EINVAL, path, "%s takes no value", fn->name);
        return MS_OK;
    }
    if (v == NULL)
        return ms_fail_at(err, MS_EINVAL, path, "required for %s", fn->name);
    switch (fn->op) {
    case FLT_SCALAR:
        ok = json_is_string(v) || json_is_number(v) || json_is_boolean(v);
        break;
    case FLT_STRING:
        ok = json_is_string(v);
        break;
    case FLT_DATE:
        ok = json_is_string(v) && flt_is_date(json_string_value(v));
        break;
    case FLT_ORDERED:
        ok = flt_is_ordered(v);
        break;
    case FLT_STRINGS: {
        enum ms_status st = flt_strings(v, path, err);

        if (st != MS_OK)
            return st;
        break;
    }
    case FLT_BETWEEN:
        ok = json_is_array(v) && json_array_size(v) == 2 && flt_is_ordered(json_array_get(v, 0)) &&
             flt_is_ordered(json_array_get(v, 1));
        break;
    case FLT_RELATIVE:
        return flt_relative(fn->name, v, path, out, err);
    case FLT_NONE:
        break;
    }
    if (!ok) {
        static const char *const want[] = {
            [FLT_SCALAR] = "a string, number or boolean",
            [FLT_STRING] = "a string",
            [FLT_DATE] = "a date (YYYY-MM-DD) or an RFC 3339 date-time",
            [FLT_ORDERED] = "a number, or a string holding a number or a date",
            [FLT_BETWEEN] = "a two-element array [low, high] of numbers or dates",
        };

        return ms_fail_at(err, MS_EINVAL, path, "%s needs %s", fn->name, want[fn->op]);
    }
    *out = json_deep_copy(v);
    return MS_OK;
}

/* ---- labels ---- */

static bool
flt_is_keyword(const char *w, size_t n)
{
    static const char *const kw[] = {"and", "or", "not"};

    for (size_t i = 0; i < MS_ARRAY_LEN(kw); i++) {
        size_t k = strlen(kw[i]), j;

        for (j = 0; j < n && j < k && (w[j] | 0x20) == kw[i][j]; j++)
            ;
        if (n == k && j == k)
            return true;
    }
    return false;
}

static bool
flt_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Optional label: a word filter_logic can name; unique among the filters parsed so far. */
static enum ms_status
flt_label(const json_t *in, const char *path, const json_t *done, json_t *f, struct ms_error *err)
{
    const char *l = NULL;
    char p[FLT_PATH];
    json_t *o;
    size_t i, n;
    enum ms_status st = ms_json_opt_str(in, "label", flt_path(p, "%s.label", path), &l, err);

    if (st != MS_OK || l == NULL || *l == '\0') /* "" is no label */
        return st;
    n = strlen(l);
    for (i = 0; i < n && flt_label_char(l[i]); i++)
        ;
    if (n == 0 || i < n || n > MS_FILTER_LABEL_MAX || flt_is_keyword(l, n))
        return ms_fail_at(err, MS_EINVAL, p,
                          "a label is 1-%d letters, digits or '_', and not AND, OR or NOT",
                          MS_FILTER_LABEL_MAX);
    json_array_foreach((json_t *)(uintptr_t)done, i, o)
    {
        if (json_equal(json_object_get(o, "label"), json_object_get(in, "label")))
            return ms_fail_at(err, MS_EUNPROC, p, "duplicate label \"%s\"", l);
    }
    json_object_set_new(f, "label", json_string(l));
    return MS_OK;
}

/* ---- Filter and Override ---- */

static enum ms_status
flt_function(const json_t *in, const char *path, bool required, const struct flt_fn **fn,
             struct ms_error *err)
{
    const char *name = NULL;
    char p[FLT_PATH];
    enum ms_status st;

    flt_path(p, "%s.function", path);
    st = required ? ms_json_req_str(in, "function", p, &name, err)
                  : ms_json_opt_str(in, "function", p, &name, err);
    if (st != MS_OK || name == NULL)
        return st;
    if ((*fn = flt_find(name)) == NULL)
        return ms_fail_at(err, MS_EINVAL, p, "unknown function \"%.40s\"", name);
    return MS_OK;
}

/* Store fn's checked operand (in.value) into f.value. */
static enum ms_status
flt_value(const struct flt_fn *fn, const json_t *in, const char *path, json_t *f,
          struct ms_error *err)
{
    char p[FLT_PATH];
    json_t *v = NULL;
    enum ms_status st =
        flt_operand(fn, flt_get(in, "value"), flt_path(p, "%s.value", path), &v, err);

    if (st == MS_OK && v != NULL)
        json_object_set_new(f, "value", v);
    return st;
}

/* field (Source) wins over field_id for filters (API.md §3.4). */
static enum ms_status
flt_filter_field(const json_t *in, const char *path, json_t *f, struct ms_error *err)
{
    const char *id = NULL, *type = NULL;
    char p[FLT_PATH];
    enum ms_status st;

    if ((st = ms_sync_source_member(in, "field", flt_path(p, "%s.field", path), f, err)) != MS_OK ||
        (st = ms_json_opt_str(in, "field_type", flt_path(p, "%s.field_type", path), &type, err)) !=
            MS_OK)
        return st;
    if (type != NULL && strcmp(type, "Model") != 0 && strcmp(type, "Target") != 0)
        return ms_fail_at(err, MS_EINVAL, p, "must be Model or Target");
    if (json_object_get(f, "field") != NULL) {
        if (type != NULL && strcmp(type, "Target") == 0)
            return ms_fail_at(err, MS_EINVAL, p, "a Target filter names its field by field_id");
    } else {
        if ((st = ms_json_opt_str(in, "field_id", flt_path(p, "%s.field_id", path), &id, err)) !=
            MS_OK)
            return st;
        if (id == NULL || *id == '\0')
            return ms_fail_at(err, MS_EINVAL, flt_path(p, "%s.field", path),
                              "required (a field, or a field_id)");
        json_object_set_new(f, "field_id", json_string(id));
    }
    if (type != NULL)
        json_object_set_new(f, "field_type", json_string(type));
    return MS_OK;
}

static enum ms_status
flt_filter(const json_t *in, const char *path, const json_t *done, json_t **out,
           struct ms_error *err)
{
    const struct flt_fn *fn = NULL;
    json_t *f = json_object();
    enum ms_status st;

    if (!json_is_object(in)) {
        st = ms_fail_at(err, MS_EINVAL, path, "must be an object");
        goto out;
    }
    if ((st = flt_function(in, path, true, &fn, err)) != MS_OK)
        goto out;
    json_object_set_new(f, "function", json_string(fn->name));
    if ((st = flt_filter_field(in, path, f, err)) != MS_OK ||
        (st = flt_value(fn, in, path, f, err)) != MS_OK ||
        (st = flt_label(in, path, done, f, err)) != MS_OK)
        goto out;
    *out = f;
    f = NULL;
out:
    json_decref(f);
    return st;
}

/* field_id wins over field for overrides (API.md §3.5, the opposite of filters). */
static enum ms_status
flt_override(const json_t *in, const char *path, json_t **out, struct ms_error *err)
{
    const struct flt_fn *fn = NULL;
    const char *id = NULL;
    char p[FLT_PATH];
    json_t *o = json_object();
    enum ms_status st;

    if (!json_is_object(in)) {
        st = ms_fail_at(err, MS_EINVAL, path, "must be an object");
        goto out;
    }
    if ((st = ms_json_opt_str(in, "field_id", flt_path(p, "%s.field_id", path), &id, err)) != MS_OK)
        goto out;
    if (id != NULL && *id != '\0')
        json_object_set_new(o, "field_id", json_string(id));
    else if ((st = ms_sync_source_member(in, "field", flt_path(p, "%s.field", path), o, err)) !=
             MS_OK)
        goto out;
    if (json_object_size(o) == 0) {
        st = ms_fail_at(err, MS_EINVAL, flt_path(p, "%s.field_id", path),
                        "required (a field_id, or a field)");
        goto out;
    }
    if ((st = flt_function(in, path, false, &fn, err)) != MS_OK)
        goto out;
    if (fn == NULL && flt_get(in, "value") != NULL)
        fn = flt_find("Equality"); /* a bare value means "equals" */
    if (fn != NULL) {
        json_object_set_new(o, "function", json_string(fn->name));
        if ((st = flt_value(fn, in, path, o, err)) != MS_OK)
            goto out;
    }
    if (flt_get(in, "override") != NULL)
        json_object_set_new(o, "override", json_deep_copy(flt_get(in, "override")));
    *out = o;
    o = NULL;
out:
    json_decref(o);
    return st;
}

/* body.key: an array of at most MS_SYNC_MAX_ITEMS objects → *arr (NULL when absent). */
static enum ms_status
flt_array(const json_t *body, const char *key, json_t **arr, struct ms_error *err)
{
    enum ms_status st;

    *arr = NULL;
    st = ms_json_opt_arr(body, key, key, arr, err);
    if (st == MS_OK && json_array_size(*arr) > MS_SYNC_MAX_ITEMS)
        return ms_fail_at(err, MS_ETOOBIG, key, "more than %d entries", MS_SYNC_MAX_ITEMS);
    return st;
}

static enum ms_status
flt_logic(const json_t *body, json_t *out, struct ms_error *err)
{
    const char *text = NULL;
    struct ms_arena *a;
    struct ms_flx *ast = NULL;
    enum ms_status st = ms_json_opt_str(body, "filter_logic", "filter_logic", &text, err);

    if (st != MS_OK || text == NULL || text[strspn(text, " \t\r\n")] == '\0')
        return st;
    a = ms_arena_new();
    st = ms_filter_logic_parse(a, text, &ast, err);
    if (st == MS_OK)
        st = ms_filter_logic_bind(ast, json_object_get(out, "filters"), err);
    ms_arena_free(a);
    if (st == MS_OK)
        json_object_set_new(out, "filter_logic", json_string(text));
    return st;
}

enum ms_status
ms_sync_filters_parse(const json_t *body, json_t *out, struct ms_error *err)
{
    json_t *arr, *res, *v, *f = NULL;
    char p[FLT_PATH];
    enum ms_status st;
    size_t i;

    if ((st = flt_array(body, "filters", &arr, err)) != MS_OK)
        return st;
    res = json_array();
    json_object_set_new(out, "filters", res);
    json_array_foreach(arr, i, v)
    {
        if ((st = flt_filter(v, flt_path(p, "filters[%zu]", i), res, &f, err)) != MS_OK)
            return st;
        json_array_append_new(res, f);
    }
    if ((st = flt_logic(body, out, err)) != MS_OK ||
        (st = flt_array(body, "overrides", &arr, err)) != MS_OK)
        return st;
    res = json_array();
    json_object_set_new(out, "overrides", res);
    json_array_foreach(arr, i, v)
    {
        if ((st = flt_override(v, flt_path(p, "overrides[%zu]", i), &f, err)) != MS_OK)
            return st;
        json_array_append_new(res, f);
    }
    return MS_OK;
}

/* ---- filter_logic ---- */

enum flx_tok { FLX_END, FLX_LP, FLX_RP, FLX_AND, FLX_OR, FLX_NOT, FLX_LABEL, FLX_BAD };

struct flx_parser {
    struct ms_arena *a;
    const char *s;
    size_t pos;    /* of the next unread character */
    size_t tok_at; /* where the current token starts */
    size_t tok_len;
    enum flx_tok tok; /* current (peeked) token */
    int depth;
    struct ms_error *err;
};

/* Read the token at pos into p->tok. */
static void
flx_lex(struct flx_parser *p)
{
    const char *s = p->s;
    size_t i;

    while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\r' || s[p->pos] == '\n')
        p->pos++;
    p->tok_at = p->pos;
    p->tok_len = 1;
    if (s[p->pos] == '\0') {
        p->tok = FLX_END;
        p->tok_len = 0;
        return;
    }
    if (s[p->pos] == '(' || s[p->pos] == ')') {
        p->tok = s[p->pos++] == '(' ? FLX_LP : FLX_RP;
        return;
    }
    for (i = p->pos; flt_label_char(s[i]); i++)
        ;
    if (i == p->pos) {
        p->tok = FLX_BAD;
        return;
    }
    p->tok_len = i - p->pos;
    p->pos = i;
    p->tok = FLX_LABEL;
    if (flt_is_keyword(s + p->tok_at, p->tok_len))
        p->tok = (s[p->tok_at] | 0x20) == 'a'   ? FLX_AND
                 : (s[p->tok_at] | 0x20) == 'o' ? FLX_OR
                                                : FLX_NOT;
}

static enum ms_status
flx_error(struct flx_parser *p, const char *what)
{
    if (p->tok == FLX_END)
        return ms_fail_at(p->err, MS_EINVAL, "filter_logic", "%s at the end", what);
    return ms_fail_at(p->err, MS_EINVAL, "filter_logic", "%s at position %zu (\"%.*s\")", what,
                      p->tok_at + 1, (int)(p->tok_len > 20 ? 20 : p->tok_len), p->s + p->tok_at);
}

static struct ms_flx *
flx_node(struct flx_parser *p, enum ms_flx_kind kind, struct ms_flx *a, struct ms_flx *b)
{
    struct ms_flx *n = ms_arena_zalloc(p->a, sizeof(*n));

    n->kind = kind;
    n->a = a;
    n->b = b;
    return n;
}

static enum ms_status flx_or(struct flx_parser *p, struct ms_flx **out);

/* factor := NOT factor | '(' expr ')' | label */
static enum ms_status
flx_factor(struct flx_parser *p, struct ms_flx **out)
{
    struct ms_flx *a = NULL;
    enum ms_status st;

    if (p->tok == FLX_LABEL) {
        *out = flx_node(p, MS_FLX_LABEL, NULL, NULL);
        (*out)->label = ms_arena_strndup(p->a, p->s + p->tok_at, p->tok_len);
        flx_lex(p);
        return MS_OK;
    }
    if (p->tok != FLX_NOT && p->tok != FLX_LP)
        return flx_error(p, p->tok == FLX_BAD ? "unexpected character"
                                              : "expected a label, NOT or '('");
    if (++p->depth > MS_FILTER_LOGIC_DEPTH)
        return ms_fail_at(p->err, MS_EINVAL, "filter_logic", "nested deeper than %d",
                          MS_FILTER_LOGIC_DEPTH);
    if (p->tok == FLX_NOT) {
        flx_lex(p);
        if ((st = flx_factor(p, &a)) != MS_OK)
            return st;
        *out = flx_node(p, MS_FLX_NOT, a, NULL);
    } else {
        flx_lex(p);
        if ((st = flx_or(p, out)) != MS_OK)
            return st;
        if (p->tok != FLX_RP)
            return flx_error(p, "expected ')'");
        flx_lex(p);
    }
    p->depth--;
    return MS_OK;
}

/* A left-associative chain of `sub` joined by tok (AND or OR). */
static enum ms_status
flx_chain(struct flx_parser *p, enum flx_tok tok, enum ms_flx_kind kind,
          enum ms_status (*sub)(struct flx_parser *, struct ms_flx **), struct ms_flx **out)
{
    struct ms_flx *left = NULL, *right = NULL;
    enum ms_status st = sub(p, &left);

    while (st == MS_OK && p->tok == tok) {
        flx_lex(p);
        if ((st = sub(p, &right)) == MS_OK)
            left = flx_node(p, kind, left, right);
    }
    if (st == MS_OK)
        *out = left;
    return st;
}

static enum ms_status
flx_and(struct flx_parser *p, struct ms_flx **out)
{
    return flx_chain(p, FLX_AND, MS_FLX_AND, flx_factor, out);
}

static enum ms_status
flx_or(struct flx_parser *p, struct ms_flx **out)
{
    return flx_chain(p, FLX_OR, MS_FLX_OR, flx_and, out);
}

enum ms_status
ms_filter_logic_parse(struct ms_arena *a, const char *text, struct ms_flx **out,
                      struct ms_error *err)
{
    struct flx_parser p = {.a = a, .s = text, .err = err};
    struct ms_flx *ast = NULL;
    enum ms_status st;

    if (text == NULL || strlen(text) > MS_FILTER_LOGIC_MAX)
        return ms_fail_at(err, MS_EINVAL, "filter_logic", "longer than %d bytes",
                          MS_FILTER_LOGIC_MAX);
    flx_lex(&p);
    if (p.tok == FLX_END)
        return ms_fail_at(err, MS_EINVAL, "filter_logic", "empty expression");
    if ((st = flx_or(&p, &ast)) != MS_OK)
        return st;
    if (p.tok != FLX_END)
        return flx_error(&p, p.tok == FLX_BAD ? "unexpected character" : "expected AND or OR");
    *out = ast;
    return MS_OK;
}

enum ms_status
ms_filter_logic_bind(struct ms_flx *ast, const json_t *filters, struct ms_error *err)
{
    json_t *f;
    size_t i;
    enum ms_status st;

    if (ast == NULL)
        return MS_OK;
    if (ast->kind != MS_FLX_LABEL) {
        if ((st = ms_filter_logic_bind(ast->a, filters, err)) != MS_OK)
            return st;
        return ms_filter_logic_bind(ast->b, filters, err);
    }
    json_array_foreach((json_t *)(uintptr_t)filters, i, f)
    {
        const char *l = json_string_value(json_object_get(f, "label"));

        if (l != NULL && strcmp(l, ast->label) == 0) {
            ast->index = i;
            return MS_OK;
        }
    }
    return ms_fail_at(err, MS_EUNPROC, "filter_logic", "no filter has the label \"%.*s\"",
                      MS_FILTER_LABEL_MAX, ast->label);
}
