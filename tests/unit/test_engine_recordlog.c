/*
 * test_engine_recordlog.c: the record-log lines of src/engine/recordlog.c, read back from the
 * files they go to: JSON string escaping (quotes, backslash, every control character, invalid
 * and valid UTF-8, long strings), numbers (integers, reals in their shortest exact form,
 * MS_V_NUM as is), the line layout, and that records.jsonl and the op's file get the same
 * bytes. Escaping is also checked against a byte-at-a-time reference of the format.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connectors_int.h"
#include "engine/engine.h"
#include "engine/engine_int.h"

static char rl_dir[64];

static void
rl_setup(void)
{
    snprintf(rl_dir, sizeof(rl_dir), "/tmp/ms-rl-XXXXXX");
    cr_assert_not_null(mkdtemp(rl_dir));
}

static void
rl_teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rl_dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(engine_recordlog, .init = rl_setup, .fini = rl_teardown);

/* A log of execution e of sync s under the test directory. */
static void
rl_init(struct ms_eng_log *l, const char *exec)
{
    ms_eng_log_init(l, rl_dir, "sync", exec);
}

/* The whole of file name of execution exec (malloc'd, *n its length), or NULL. */
static char *
rl_read(const char *exec, const char *name, size_t *n)
{
    char path[256], *p;
    FILE *f;
    long len;

    snprintf(path, sizeof(path), "%s/sync/%s/%s", rl_dir, exec, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)len + 1);
    cr_assert_eq(fread(p, 1, (size_t)len, f), (size_t)len);
    p[len] = '\0';
    fclose(f);
    *n = (size_t)len;
    return p;
}

static void
rl_expect_file(const char *exec, const char *name, const char *want, size_t want_len)
{
    size_t n = 0;
    char *got = rl_read(exec, name, &n);

    cr_assert_not_null(got, "%s was not written", name);
    cr_expect(n == want_len && memcmp(got, want, n) == 0, "%s:\n got  %s\n want %s", name, got,
              want);
    free(got);
}

static struct ms_value
rl_text(const char *p, size_t n)
{
    return (struct ms_value){.type = MS_V_TEXT, .u.s = {p, n}};
}

static struct ms_value
rl_num(const char *p)
{
    return (struct ms_value){.type = MS_V_NUM, .u.s = {p, strlen(p)}};
}

static struct ms_value
rl_real(double d)
{
    return (struct ms_value){.type = MS_V_REAL, .u.d = d};
}

static struct ms_value
rl_int(int64_t i)
{
    return (struct ms_value){.type = MS_V_INT, .u.i = i};
}

/* Reference: the record-log string format one byte at a time (what recordlog.c wrote with
 * putc before the line builder), into out; returns the length. */
static size_t
rl_ref_str(char *out, const unsigned char *s, size_t n)
{
    size_t o = 0;

    out[o++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = 0;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (c == '"' || c == '\\')
            o += (size_t)sprintf(out + o, "\\%c", c);
        else if (c == '\n')
            o += (size_t)sprintf(out + o, "\\n");
        else if (c == '\t')
            o += (size_t)sprintf(out + o, "\\t");
        else if (c == '\r')
            o += (size_t)sprintf(out + o, "\\r");
        else if (c < 0x80)
            o += (size_t)sprintf(out + o, "\\u%04x", c);
        if (c < 0x80) {
            i++;
            continue;
        }
        /* a valid sequence is copied, anything else is one U+FFFD per byte */
        if (c >= 0xc2 && c <= 0xdf)
            k = 2;
        else if (c >= 0xe0 && c <= 0xef)
            k = 3;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 4;
        if (k > 0 && i + k <= n && ms_cx_utf8_valid((const char *)s + i, k)) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o++] = '"';
    return o;
}

Test(engine_recordlog, escaping_table)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain", 5, "\"plain\""},
        {"q\"b\\s/", 6, "\"q\\\"b\\\\s/\""},
        {"\n\t\r", 3, "\"\\n\\t\\r\""},
        {"\x00\x01\x08\x0b\x0c\x1f", 6, "\"\\u0000\\u0001\\u0008\\u000b\\u000c\\u001f\""},
        {"\x7f", 1, "\"\x7f\""},
        {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""},
        {"caf\xe9!", 5, "\"caf\xef\xbf\xbd!\""},
        {"\xff\xfe", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xe2\x82", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"", /* truncated at the end */},
        {"\xe2\x82x", 3, "\"\xef\xbf\xbd\xef\xbf\xbdx\""},
        {"\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" /* overlong */},
        {"\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" /* surrogate */},
        {"\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
        {"a\x80z", 3, "\"a\xef\xbf\xbdz\"" /* lone continuation */},
    };
    struct ms_eng_log l;
    char want[4096];
    size_t o = 0;

    rl_init(&l, "esc");
    for (size_t i = 0; i < MS_ARRAY_LEN(cases); i++) {
        struct ms_value v = rl_text(cases[i].in, cases[i].n);
        size_t ref;
        char buf[256];

        ms_eng_log_line(&l, MS_ENG_LOG_WARNINGS, &v, "skip", NULL, NULL, 0, NULL);
        o +=
            (size_t)sprintf(want + o, "{\"key\":%s,\"op\":\"skip\",\"data\":null}\n", cases[i].out);
        ref = rl_ref_str(buf, (const unsigned char *)cases[i].in, cases[i].n);
        cr_expect(ref == strlen(cases[i].out) && memcmp(buf, cases[i].out, ref) == 0,
                  "reference of case %zu", i);
    }
    cr_assert_eq(ms_eng_log_flush(&l, NULL), MS_OK);
    ms_eng_log_close(&l);
    rl_expect_file("esc", "warnings.jsonl", want, o);
}

/* Random bytes (mostly printable, some controls, quotes and high bytes) against the reference,
 * long ones crossing the builder's 16 KiB escaping chunks. */
Test(engine_recordlog, escaping_matches_the_reference)
{
    static const unsigned char pool[] = "ab \"\\\n\t\x01\x1f\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98"
                                        "\x80\xed\xa0\xc0\xff";
    struct ms_eng_log l;
    size_t cap = 1 << 20, o = 0, sizes[] = {0, 1, 2, 3, 7, 100, 16383, 16384, 16385, 40000};
    char *want = malloc(cap), *got;
    unsigned char *in = malloc(40001);
    unsigned seed = 12345;

    rl_init(&l, "rand");
    for (int round = 0; round < 40; round++) {
        size_t n = sizes[round % MS_ARRAY_LEN(sizes)];
        struct ms_value v;

        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (seed >> 16) % 4 != 0 ? (unsigned char)('a' + (seed >> 8) % 26)
                                          : pool[(seed >> 8) % (sizeof(pool) - 1)];
        }
        v = rl_text((const char *)in, n);
        ms_eng_log_line(&l, MS_ENG_LOG_RECORDS, &v, "insert", NULL, NULL, 0, NULL);
        cr_assert_lt(o + 8 * n + 64, cap);
        o += rl_ref_str(want + o, in, n);
        want[o++] = '\n';
    }
    cr_assert_eq(ms_eng_log_flush(&l, NULL), MS_OK);
    ms_eng_log_close(&l);
    {
        size_t n = 0, w = 0, k = 0;
        const char *p, *prefix = "{\"key\":", *suffix = ",\"op\":\"insert\",\"data\":null}\n";

        got = rl_read("rand", "records.jsonl", &n);
        cr_assert_not_null(got);
        for (p = got; p < got + n; k++) { /* each line: prefix, the key, suffix */
            const char *end = memchr(want + w, '\n', o - w);
            size_t klen = (size_t)(end - (want + w));

            cr_assert(strncmp(p, prefix, 7) == 0, "line %zu", k);
            cr_assert(memcmp(p + 7, want + w, klen) == 0, "line %zu differs", k);
            cr_assert(strncmp(p + 7 + klen, suffix, strlen(suffix)) == 0, "line %zu end", k);
            p += 7 + klen + strlen(suffix);
            w += klen + 1;
        }
        cr_expect_eq(k, 40);
        free(got);
    }
    free(in);
    free(want);
}

Test(engine_recordlog, values_and_layout)
{
    static const char *const names[] = {"i",    "min",  "max", "r",    "third", "big",
                                        "neg0", "tiny", "nan", "inf",  "num",   "nneg0",
                                        "nbig", "t",    "f",   "null", "s",     "na\"me"};
    struct ms_value vals[18] = {
        rl_int(0),
        rl_int(INT64_MIN),
        rl_int(INT64_MAX),
        rl_real(0.1),
        rl_real(1.0 / 3),
        rl_real(1e300),
        rl_real(-0.0),
        rl_real(5e-324),
        rl_real(NAN),
        rl_real(-INFINITY),
        rl_num("1.5e-07"),
        rl_num("-0"),
        rl_num("12345678901234567890.123"),
        {.type = MS_V_BOOL, .u.b = true},
        {.type = MS_V_BOOL, .u.b = false},
        {.type = MS_V_NULL},
        rl_text("x", 1),
        rl_text("", 0),
    };
    static const char want[] =
        "{\"key\":-9223372036854775808,\"op\":\"upsert\",\"data\":{\"i\":0,"
        "\"min\":-9223372036854775808,\"max\":9223372036854775807,\"r\":0.1,"
        "\"third\":0.3333333333333333,\"big\":1e+300,\"neg0\":-0,\"tiny\":4.94065645841247e-324,"
        "\"nan\":null,\"inf\":null,\"num\":1.5e-07,\"nneg0\":-0,"
        "\"nbig\":12345678901234567890.123,\"t\":true,\"f\":false,\"null\":null,\"s\":\"x\","
        "\"na\\\"me\":\"\"}}\n";
    struct ms_value key = rl_int(INT64_MIN);
    struct ms_eng_log l;

    rl_init(&l, "vals");
    ms_eng_log_line(&l, MS_ENG_LOG_RECORDS, &key, "upsert", names, vals, 18, NULL);
    cr_assert_eq(ms_eng_log_flush(&l, NULL), MS_OK);
    ms_eng_log_close(&l);
    rl_expect_file("vals", "records.jsonl", want, sizeof(want) - 1);
}

/* One build, written once: records.jsonl gets every line (a rejected record's with its
 * "error", also in errors.jsonl); the op files are empty markers; a gone record's delete has
 * data null; other names rebuild the cache. */
Test(engine_recordlog, records_hold_the_lines_and_op_files_mark_them)
{
    static const char *const names[] = {"id", "score"};
    static const char *const other[] = {"a", "b"};
    struct ms_value v1[2] = {rl_int(1), rl_num("0.5")};
    struct ms_value v2[2] = {rl_int(2), rl_text("\"q\"", 3)};
    struct ms_value k1 = rl_int(1), k2 = rl_int(2), k3 = rl_text("k-3", 3);
    static const char l1[] = "{\"key\":1,\"op\":\"insert\",\"data\":{\"id\":1,\"score\":0.5}}\n";
    static const char l2[] =
        "{\"key\":2,\"op\":\"upsert\",\"data\":{\"id\":2,\"score\":\"\\\"q\\\"\"},"
        "\"error\":\"too \\\"big\\\"\\n\"}\n";
    static const char l3[] = "{\"key\":\"k-3\",\"op\":\"delete\",\"data\":null}\n";
    static const char l4[] = "{\"key\":1,\"op\":\"update\",\"data\":{\"a\":1,\"b\":0.5}}\n";
    char want[1024];
    struct ms_eng_log l;

    rl_init(&l, "ops");
    ms_eng_log_record(&l, MS_ENG_LOG_INSERTS, &k1, "insert", names, v1, 2, "unused");
    ms_eng_log_record(&l, MS_ENG_LOG_ERRORS, &k2, "upsert", names, v2, 2, "too \"big\"\n");
    ms_eng_log_record(&l, MS_ENG_LOG_DELETES, &k3, "delete", names, NULL, 2, NULL);
    ms_eng_log_record(&l, MS_ENG_LOG_UPDATES, &k1, "update", other, v1, 2, NULL);
    cr_assert_eq(ms_eng_log_flush(&l, NULL), MS_OK);
    ms_eng_log_close(&l);
    snprintf(want, sizeof(want), "%s%s%s%s", l1, l2, l3, l4);
    rl_expect_file("ops", "records.jsonl", want, strlen(want));
    rl_expect_file("ops", "errors.jsonl", l2, sizeof(l2) - 1);
    rl_expect_file("ops", "inserts.jsonl", "", 0);
    rl_expect_file("ops", "deletes.jsonl", "", 0);
    rl_expect_file("ops", "updates.jsonl", "", 0);
    /* the lines the server streams for each marker */
    cr_expect(ms_engine_log_line_of(l1, sizeof(l1) - 2, "inserts"));
    cr_expect_not(ms_engine_log_line_of(l1, sizeof(l1) - 2, "updates"));
    cr_expect_not(ms_engine_log_line_of(l2, sizeof(l2) - 2, "updates"), "rejected");
    cr_expect(ms_engine_log_line_of(l3, sizeof(l3) - 2, "deletes"));
    cr_expect(ms_engine_log_line_of(l4, sizeof(l4) - 2, "updates"));
    cr_expect_not(ms_engine_log_line_of(l4, sizeof(l4) - 2, "records"));
}

/* Keys of every JSON kind, and text that looks like the line's own members. */
Test(engine_recordlog, line_of_reads_past_any_key)
{
    static const struct {
        const char *line, *type;
        bool want;
    } cases[] = {
        {"{\"key\":\"a,\\\"op\\\":\\\"delete\\\"\",\"op\":\"insert\",\"data\":{}}", "inserts",
         true},
        {"{\"key\":\"a,\\\"op\\\":\\\"delete\\\"\",\"op\":\"insert\",\"data\":{}}", "deletes",
         false},
        {"{\"key\":\"\\\\\",\"op\":\"upsert\",\"data\":{}}", "updates", true},
        {"{\"key\":-1.5e3,\"op\":\"delete\",\"data\":null}", "deletes", true},
        {"{\"key\":null,\"op\":\"update\",\"data\":{\"v\":\"}}\"}}", "updates", true},
        {"{\"key\":false,\"op\":\"insert\",\"data\":{},\"error\":\"}\"}", "inserts", false},
        {"{\"key\":1,\"op\":\"inserted\",\"data\":{}}", "inserts", false},
        {"{\"key\":\"unterminated", "inserts", false},
        {"{\"key\":1}", "inserts", false},
        {"", "inserts", false},
        {"not json at all", "deletes", false},
    };

    for (size_t i = 0; i < MS_ARRAY_LEN(cases); i++)
        cr_expect_eq(ms_engine_log_line_of(cases[i].line, strlen(cases[i].line), cases[i].type),
                     cases[i].want, "case %zu: %s", i, cases[i].line);
}

Test(engine_recordlog, off_without_a_directory)
{
    struct ms_eng_log l;
    struct ms_value k = rl_int(1);

    ms_eng_log_init(&l, NULL, "sync", "none");
    ms_eng_log_record(&l, MS_ENG_LOG_INSERTS, &k, "insert", NULL, NULL, 0, NULL);
    cr_expect_eq(ms_eng_log_flush(&l, NULL), MS_OK);
    ms_eng_log_close(&l);
    cr_expect_null(l.dir);
}

Test(engine_recordlog, json_value_to_a_stream)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    struct ms_value v[4] = {rl_num("1e+100"), rl_real(0.1), rl_text("a\"", 2), rl_real(NAN)};

    cr_assert_not_null(f);
    for (size_t i = 0; i < 4; i++)
        ms_eng_json_value(f, &v[i]);
    fclose(f);
    cr_expect_str_eq(buf, "1e+1000.1\"a\\\"\"null");
    free(buf);
}
