/*
 * bench/gen.c: the sync benchmarks' dataset (BENCHMARKS.md "Dataset"): rows of the 16-column
 * firenibble schema (f0 bigint primary key, f1-f2 bigint, f3 int, f4-f7 float8, f8-f9 and
 * f13-f15 varchar(32), f10-f12 date) written to stdout as PostgreSQL COPY text or as CSV.
 *
 *   gen [--csv] [--header] [--seed S] base   ROWS   keys 1..ROWS
 *   gen [--csv] [--header] [--seed S] mutate ROWS   the mutated copy: 10% of the keys updated,
 *                                                   1% deleted, ROWS/100 inserted (ROWS+1..)
 *   gen [--csv] [--header] [--seed S] delete ROWS   the base without the keys mutate deletes
 *   gen [--seed S] counts ROWS                      "updated deleted inserted" of mutate
 *
 * Every value is a pure function of (seed, key, version), so the output does not depend on
 * order or size and the mutated copy differs from the base exactly where it says. Keys are
 * chosen in blocks of 100 (a seeded shuffle of each block: 10 updated, 1 deleted), so the
 * counts are exact for ROWS a multiple of 100. An updated row always differs from its base.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_COLS 16
#define GEN_BLOCK 100 /* keys per mutation block */
#define GEN_UPD 10    /* updated keys per full block */
#define GEN_DEL 1     /* deleted keys per full block */
#define GEN_OUTBUF 65536
#define GEN_MAX_ROWS 1000000000LL

enum gen_mode { GEN_BASE, GEN_MUTATE, GEN_DELETE, GEN_COUNTS };
enum gen_fate { GEN_KEEP, GEN_UPDATE, GEN_GONE };

struct gen_out {
    char buf[GEN_OUTBUF];
    size_t n;
    bool csv;
};

/* The current block's fate of each key, recomputed when the key enters a new block. */
struct gen_block {
    int64_t index; /* -1 before the first block */
    unsigned char fate[GEN_BLOCK];
};

static uint64_t gen_seed = 1;

static uint64_t
gen_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64 stream: the state advances by the golden gamma, each draw is mixed. */
static uint64_t
gen_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    return gen_mix(*s);
}

static uint64_t
gen_stream(uint64_t key, uint64_t salt)
{
    return gen_mix(gen_seed ^ gen_mix(key * 0xd1342543de82ef95ULL + salt));
}

static void
gen_flush(struct gen_out *o)
{
    if (o->n > 0 && fwrite(o->buf, 1, o->n, stdout) != o->n) {
        fprintf(stderr, "gen: write failed: %s\n", strerror(errno));
        exit(1);
    }
    o->n = 0;
}

static void
gen_put(struct gen_out *o, const char *s, size_t n)
{
    if (o->n + n > sizeof(o->buf))
        gen_flush(o);
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}

static void
gen_sep(struct gen_out *o, int col)
{
    if (col > 0)
        gen_put(o, o->csv ? "," : "\t", 1);
}

static void
gen_null(struct gen_out *o)
{
    if (!o->csv)
        gen_put(o, "\\N", 2); /* CSV: an unquoted empty field is NULL */
}

static void
gen_int(struct gen_out *o, int64_t v)
{
    char t[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        t[sizeof(t) - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        t[sizeof(t) - 1 - n++] = '-';
    gen_put(o, t + sizeof(t) - n, (size_t)n);
}

/* milli / 1000 in the shortest decimal form, as PostgreSQL prints a float8 ("12.3", "-5"). */
static void
gen_real(struct gen_out *o, int64_t milli)
{
    uint64_t u = milli < 0 ? (uint64_t)0 - (uint64_t)milli : (uint64_t)milli;
    unsigned frac = (unsigned)(u % 1000);
    char t[4];
    int n = 3;

    if (milli < 0)
        gen_put(o, "-", 1);
    gen_int(o, (int64_t)(u / 1000));
    if (frac == 0)
        return;
    t[0] = '.';
    t[1] = (char)('0' + frac / 100);
    t[2] = (char)('0' + frac / 10 % 10);
    t[3] = (char)('0' + frac % 10);
    while (t[n] == '0')
        n--;
    gen_put(o, t, (size_t)n + 1);
}

/* Days since 1970-01-01 as YYYY-MM-DD (Howard Hinnant's civil_from_days). */
static void
gen_date(struct gen_out *o, int64_t z)
{
    int64_t era, doe, yoe, y, doy, mp, d, m;
    char t[10];

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    t[0] = (char)('0' + y / 1000 % 10);
    t[1] = (char)('0' + y / 100 % 10);
    t[2] = (char)('0' + y / 10 % 10);
    t[3] = (char)('0' + y % 10);
    t[4] = '-';
    t[5] = (char)('0' + m / 10);
    t[6] = (char)('0' + m % 10);
    t[7] = '-';
    t[8] = (char)('0' + d / 10);
    t[9] = (char)('0' + d % 10);
    gen_put(o, t, sizeof(t));
}

/*
 * A varchar(32) of 1-32 characters. The alphabet holds a space and a comma, so CSV needs its
 * quoting; COPY text needs no escape for any of these characters.
 */
static void
gen_text(struct gen_out *o, uint64_t *s)
{
    static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,";
    char t[34];
    uint64_t x = gen_next(s);
    size_t len = 1 + (size_t)(x % 32), n = 0;
    bool quote = false;

    x = gen_next(s);
    for (size_t i = 0; i < len; i++) {
        if (i % 10 == 9)
            x = gen_next(s);
        t[++n] = abc[x & 63];
        quote |= abc[x & 63] == ',';
        x >>= 6;
    }
    if (o->csv && quote) {
        t[0] = '"';
        t[++n] = '"';
        gen_put(o, t, n + 1);
    } else {
        gen_put(o, t + 1, n);
    }
}

/* NULL with probability pct/100, drawn from the row's stream. */
static bool
gen_is_null(uint64_t *s, unsigned pct)
{
    return gen_next(s) % 100 < pct;
}

/*
 * One row. Version 1 (an update) redraws f1, f4, f8 and f11 from another stream and flips bits
 * of f3, so it always differs from version 0; the other columns keep their base values.
 */
static void
gen_row(struct gen_out *o, int64_t key, int version)
{
    static const unsigned text_null[GEN_COLS] = {[13] = 5, [14] = 10, [15] = 20};
    uint64_t s = gen_stream((uint64_t)key, 0), u = gen_stream((uint64_t)key, 1);

    for (int c = 0; c < GEN_COLS; c++) {
        bool upd = version == 1 && (c == 1 || c == 4 || c == 8 || c == 11);
        uint64_t *st = upd ? &u : &s;
        uint64_t x;

        gen_sep(o, c);
        if (c == 0) {
            gen_int(o, key);
        } else if (c == 1) {
            gen_int(o, (int64_t)gen_next(st));
        } else if (c == 2) {
            gen_int(o, (int64_t)(gen_next(st) % 1000000000000ULL));
        } else if (c == 3) {
            x = gen_next(st);
            if (version == 1)
                x ^= 1 + gen_next(&u) % 0xffff;
            gen_int(o, (int32_t)(uint32_t)x);
        } else if (c <= 7) {
            if (c == 7 && gen_is_null(st, 5)) {
                gen_null(o);
                continue;
            }
            gen_real(o, (int64_t)(gen_next(st) % 2000000000ULL) - 1000000000);
        } else if (c == 10 || c == 11 || c == 12) {
            if (c == 12 && gen_is_null(st, 10)) {
                gen_null(o);
                continue;
            }
            gen_date(o, (int64_t)(gen_next(st) % 24000)); /* 1970 .. 2035 */
        } else {
            if (text_null[c] > 0 && gen_is_null(st, text_null[c])) {
                gen_null(o);
                continue;
            }
            gen_text(o, st);
        }
    }
    gen_put(o, "\n", 1);
}

/* The fates of block b's keys: a seeded shuffle of its m positions. */
static void
gen_block_load(struct gen_block *b, int64_t index, int64_t rows)
{
    unsigned char pos[GEN_BLOCK];
    int64_t first = index * GEN_BLOCK + 1;
    int m = (int)(rows - first + 1 < GEN_BLOCK ? rows - first + 1 : GEN_BLOCK);
    uint64_t s = gen_stream((uint64_t)index, 2);
    int upd = m * GEN_UPD / GEN_BLOCK, del = m * GEN_DEL / GEN_BLOCK;

    for (int i = 0; i < m; i++)
        pos[i] = (unsigned char)i;
    for (int i = m - 1; i > 0; i--) {
        int j = (int)(gen_next(&s) % (uint64_t)(i + 1));
        unsigned char t = pos[i];

        pos[i] = pos[j];
        pos[j] = t;
    }
    memset(b->fate, GEN_KEEP, sizeof(b->fate));
    for (int i = 0; i < upd + del; i++)
        b->fate[pos[i]] = i < upd ? GEN_UPDATE : GEN_GONE;
    b->index = index;
}

static enum gen_fate
gen_fate(struct gen_block *b, int64_t key, int64_t rows)
{
    int64_t index = (key - 1) / GEN_BLOCK;

    if (index != b->index)
        gen_block_load(b, index, rows);
    return (enum gen_fate)b->fate[(key - 1) % GEN_BLOCK];
}

static void
gen_header(struct gen_out *o)
{
    char name[8];

    for (int c = 0; c < GEN_COLS; c++) {
        gen_sep(o, c);
        gen_put(o, name, (size_t)snprintf(name, sizeof(name), "f%d", c));
    }
    gen_put(o, "\n", 1);
}

static void
gen_emit(struct gen_out *o, enum gen_mode mode, int64_t rows)
{
    struct gen_block b = {.index = -1};
    int64_t counts[3] = {0, 0, rows / GEN_BLOCK};

    for (int64_t key = 1; key <= rows; key++) {
        enum gen_fate f = mode == GEN_BASE ? GEN_KEEP : gen_fate(&b, key, rows);

        if (f == GEN_UPDATE)
            counts[0]++;
        else if (f == GEN_GONE)
            counts[1]++;
        if (mode == GEN_COUNTS || f == GEN_GONE)
            continue;
        gen_row(o, key, mode == GEN_MUTATE && f == GEN_UPDATE ? 1 : 0);
    }
    if (mode == GEN_MUTATE)
        for (int64_t key = rows + 1; key <= rows + counts[2]; key++)
            gen_row(o, key, 0);
    if (mode == GEN_COUNTS)
        printf("%" PRId64 " %" PRId64 " %" PRId64 "\n", counts[0], counts[1], counts[2]);
}

static int
gen_usage(void)
{
    fprintf(stderr, "usage: gen [--csv] [--header] [--seed S] base|mutate|delete|counts ROWS\n");
    return 2;
}

static bool
gen_number(const char *s, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

int
main(int argc, char **argv)
{
    static struct gen_out out;
    static const char *const modes[] = {"base", "mutate", "delete", "counts"};
    bool header = false;
    int64_t rows = -1, seed;
    int i = 1, mode = -1;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--csv") == 0)
            out.csv = true;
        else if (strcmp(argv[i], "--header") == 0)
            header = true;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc &&
                 gen_number(argv[i + 1], INT64_MAX, &seed))
            gen_seed = (uint64_t)seed, i++;
        else
            return gen_usage();
    }
    if (argc - i != 2 || !gen_number(argv[i + 1], GEN_MAX_ROWS, &rows))
        return gen_usage();
    for (int m = 0; m < 4; m++)
        if (strcmp(argv[i], modes[m]) == 0)
            mode = m;
    if (mode < 0)
        return gen_usage();
    if (header && mode != GEN_COUNTS)
        gen_header(&out);
    gen_emit(&out, (enum gen_mode)mode, rows);
    gen_flush(&out);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "gen: write failed: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
