/*
 * store_sqlite_snapblob.c: the binary format of snapshot runs and folded chunks (layout in
 * store_int.h), and the streaming k-way merge of a sync's runs that snap_load, snap_count and
 * snap_compact share (store_sqlite_snap.c). The decoders treat every blob as untrusted: each
 * field is checked before it is used and no read leaves the blob, so a damaged blob is an error
 * naming the sync, never a crash. The merge reads each run through its own sqlite3_blob handle
 * and a small window, so memory stays a few KiB per run however large the runs are.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "core/xmalloc.h"

#define SNAPBLOB_DEL (1u << 31)
#define SNAPBLOB_NOTEXT (1u << 30)
#define SNAPBLOB_END_MASK (SNAPBLOB_NOTEXT - 1)

/* Window bytes per run: this much in all, spread over the runs, within the bounds below; with
 * texts, a third of a run's share is its text window. */
#define SNAPRUN_BUDGET (8u << 20)
#define SNAPRUN_WIN_MIN 1024u
#define SNAPRUN_WIN_MAX (64u << 10)

/* ---- encoding ---- */

static uint32_t
snapblob_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
snapblob_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

bool
ms_store_snapblob_head(const uint8_t *p, uint64_t len, struct snapblob_head *h)
{
    if (len < MS_SNAPBLOB_HEAD || p[0] != MS_SNAPBLOB_VERSION || p[1] != 0 || p[2] != 0 ||
        p[3] != 0 || snapblob_u32(p + 12) != 0)
        return false;
    h->n = snapblob_u32(p + 4);
    h->text_len = snapblob_u32(p + 8);
    return h->text_len <= MS_SNAPBLOB_TEXT_MAX &&
           len == MS_SNAPBLOB_HEAD + (uint64_t)h->n * MS_SNAPBLOB_ENTRY + h->text_len;
}

void
ms_store_snapblob_entry(const uint8_t *p, struct snap_ent *e)
{
    uint32_t w = snapblob_u32(p + 32);

    memcpy(e->key, p, 16);
    memcpy(e->row, p + 16, 16);
    e->del = (w & SNAPBLOB_DEL) != 0;
    e->text = (w & SNAPBLOB_NOTEXT) == 0;
    e->end = w & SNAPBLOB_END_MASK;
}

const char *
ms_store_snapblob_follows(const struct snap_ent *prev, const struct snap_ent *e,
                          const struct snapblob_head *h, bool run)
{
    uint32_t start = prev != NULL ? prev->end : 0;

    if (prev != NULL && memcmp(prev->key, e->key, 16) >= 0)
        return "keys out of order";
    if (e->del && !run)
        return "a delete in a folded chunk";
    if (e->del && e->text)
        return "a delete with a key text";
    if (e->end < start || e->end > h->text_len)
        return "a key text outside the text area";
    if (!e->text && e->end != start)
        return "text bytes for an entry without text";
    return NULL;
}

const char *
ms_store_snapblob_ends(const struct snap_ent *last, const struct snapblob_head *h)
{
    if ((last != NULL ? last->end : 0) != h->text_len)
        return "text area longer than its texts";
    return NULL;
}

/* Big-endian 64 bits at p: keys compare as two of these, like memcmp but without the call. */
static uint64_t
snapblob_be64(const uint8_t *p)
{
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | (uint64_t)p[7];
}

/* memcmp(a, b, 16) < 0 */
static bool
snapblob_key_less(const uint8_t *a, const uint8_t *b)
{
    uint64_t x = snapblob_be64(a), y = snapblob_be64(b);

    return x != y ? x < y : snapblob_be64(a + 8) < snapblob_be64(b + 8);
}

/* The same checks as ms_store_snapblob_follows and _ends, in one tight loop. */
const char *
ms_store_snapblob_check(const uint8_t *p, size_t len, bool run)
{
    struct snapblob_head h;
    uint32_t prev = 0;

    if (!ms_store_snapblob_head(p, len, &h))
        return "bad header";
    for (uint32_t i = 0; i < h.n; i++) {
        const uint8_t *e = p + MS_SNAPBLOB_HEAD + (size_t)i * MS_SNAPBLOB_ENTRY;
        uint32_t w = snapblob_u32(e + 32), end = w & SNAPBLOB_END_MASK;

        if (i > 0 && !snapblob_key_less(e - MS_SNAPBLOB_ENTRY, e))
            return "keys out of order";
        if ((w & SNAPBLOB_DEL) != 0 && !run)
            return "a delete in a folded chunk";
        if ((w & SNAPBLOB_DEL) != 0 && (w & SNAPBLOB_NOTEXT) == 0)
            return "a delete with a key text";
        if (end < prev || end > h.text_len)
            return "a key text outside the text area";
        if ((w & SNAPBLOB_NOTEXT) != 0 && end != prev)
            return "text bytes for an entry without text";
        prev = end;
    }
    return prev == h.text_len ? NULL : "text area longer than its texts";
}

void
ms_store_snapblob_init(struct snapblob_builder *b)
{
    memset(b, 0, sizeof(*b));
}

void
ms_store_snapblob_release(struct snapblob_builder *b)
{
    free(b->buf);
    free(b->text);
    memset(b, 0, sizeof(*b));
}

/* Make room for need bytes at buf, doubling. */
static void
snapblob_room(uint8_t **buf, size_t *size, size_t need)
{
    size_t n = *size != 0 ? *size : 4096;

    if (need <= *size)
        return;
    while (n < need)
        n *= 2;
    *buf = ms_xrealloc(*buf, n);
    *size = n;
}

void
ms_store_snapblob_add(struct snapblob_builder *b, const uint8_t key[16], const uint8_t row[16],
                      bool del, const char *text, size_t len)
{
    uint8_t *p;
    uint32_t w;

    snapblob_room(&b->buf, &b->buf_size, MS_SNAPBLOB_HEAD + (b->n + 1) * MS_SNAPBLOB_ENTRY);
    p = b->buf + MS_SNAPBLOB_HEAD + b->n * MS_SNAPBLOB_ENTRY;
    memcpy(p, key, 16);
    if (del || text == NULL)
        len = 0;
    if (del)
        memset(p + 16, 0, 16);
    else
        memcpy(p + 16, row, 16);
    if (len > 0) {
        snapblob_room(&b->text, &b->text_cap, b->text_len + len);
        memcpy(b->text + b->text_len, text, len);
        b->text_len += len;
    }
    MS_ASSERT(b->text_len <= MS_SNAPBLOB_TEXT_MAX);
    w = (uint32_t)b->text_len | (del ? SNAPBLOB_DEL : 0) |
        (del || text == NULL ? SNAPBLOB_NOTEXT : 0);
    snapblob_put_u32(p + 32, w);
    b->n++;
    b->dels += del;
}

/* Where the text of entry i of p ends. */
static uint32_t
snapblob_end(const uint8_t *p, uint32_t i)
{
    return snapblob_u32(p + MS_SNAPBLOB_HEAD + (size_t)i * MS_SNAPBLOB_ENTRY + 32) &
           SNAPBLOB_END_MASK;
}

size_t
ms_store_snapblob_span_bytes(const uint8_t *p, const struct snapblob_head *h, uint32_t i,
                             uint32_t k)
{
    uint32_t start = i > 0 ? snapblob_end(p, i - 1) : 0;

    (void)h;
    return (size_t)k * MS_SNAPBLOB_ENTRY + (k > 0 ? snapblob_end(p, i + k - 1) - start : 0);
}

void
ms_store_snapblob_add_span(struct snapblob_builder *b, const uint8_t *p,
                           const struct snapblob_head *h, uint32_t i, uint32_t k)
{
    const uint8_t *src = p + MS_SNAPBLOB_HEAD + (size_t)i * MS_SNAPBLOB_ENTRY;
    uint32_t start = i > 0 ? snapblob_end(p, i - 1) : 0, tlen;
    uint8_t *dst;

    if (k == 0)
        return;
    tlen = snapblob_end(p, i + k - 1) - start;
    snapblob_room(&b->buf, &b->buf_size, MS_SNAPBLOB_HEAD + (b->n + k) * MS_SNAPBLOB_ENTRY);
    dst = b->buf + MS_SNAPBLOB_HEAD + b->n * MS_SNAPBLOB_ENTRY;
    memcpy(dst, src, (size_t)k * MS_SNAPBLOB_ENTRY);
    for (uint32_t j = 0; j < k; j++) { /* the texts move: shift each end, keep the flags */
        uint8_t *w = dst + (size_t)j * MS_SNAPBLOB_ENTRY + 32;
        uint32_t v = snapblob_u32(w);

        snapblob_put_u32(w, (v & ~SNAPBLOB_END_MASK) |
                                ((v & SNAPBLOB_END_MASK) - start + (uint32_t)b->text_len));
    }
    if (tlen > 0) {
        snapblob_room(&b->text, &b->text_cap, b->text_len + tlen);
        memcpy(b->text + b->text_len,
               p + MS_SNAPBLOB_HEAD + (size_t)h->n * MS_SNAPBLOB_ENTRY + start, tlen);
        b->text_len += tlen;
    }
    MS_ASSERT(b->text_len <= MS_SNAPBLOB_TEXT_MAX);
    b->n += k;
}

uint32_t
ms_store_snapblob_lower(const uint8_t *p, uint32_t lo, uint32_t hi, const uint8_t key[16])
{
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (snapblob_key_less(p + MS_SNAPBLOB_HEAD + (size_t)mid * MS_SNAPBLOB_ENTRY, key))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t
ms_store_snapblob_size(const struct snapblob_builder *b)
{
    return MS_SNAPBLOB_HEAD + b->n * MS_SNAPBLOB_ENTRY + b->text_len;
}

const uint8_t *
ms_store_snapblob_finish(struct snapblob_builder *b, size_t *len)
{
    size_t ents = MS_SNAPBLOB_HEAD + b->n * MS_SNAPBLOB_ENTRY;

    snapblob_room(&b->buf, &b->buf_size, ents + b->text_len);
    memset(b->buf, 0, MS_SNAPBLOB_HEAD);
    b->buf[0] = MS_SNAPBLOB_VERSION;
    snapblob_put_u32(b->buf + 4, (uint32_t)b->n);
    snapblob_put_u32(b->buf + 8, (uint32_t)b->text_len);
    if (b->text_len > 0)
        memcpy(b->buf + ents, b->text, b->text_len);
    *len = ents + b->text_len;
    return b->buf;
}

void
ms_store_snapblob_reset(struct snapblob_builder *b)
{
    b->n = 0;
    b->text_len = 0;
    b->dels = 0;
}

enum ms_status
ms_store_snapblob_damaged(const char *sync_id, const char *why, struct ms_error *err)
{
    return ms_fail(err, MS_EINTERNAL, "snapshot of sync %s is damaged: %s", sync_id, why);
}

/* ---- search ---- */

/* The key of entry i (src's header already checked). */
static enum ms_status
snapblob_key_at(const struct snapblob_src *src, uint32_t i, uint8_t key[16], struct ms_error *err)
{
    return src->read(src->ud, key, 16, MS_SNAPBLOB_HEAD + (size_t)i * MS_SNAPBLOB_ENTRY, err);
}

/* The first entry whose key is >= key, in *at (h.n when none). */
static enum ms_status
snapblob_lower_bound(const struct snapblob_src *src, const struct snapblob_head *h,
                     const uint8_t key[16], uint32_t *at, struct ms_error *err)
{
    uint32_t lo = 0, hi = h->n;
    uint8_t k[16];
    enum ms_status st = MS_OK;

    while (lo < hi && st == MS_OK) {
        uint32_t mid = lo + (hi - lo) / 2;

        if ((st = snapblob_key_at(src, mid, k, err)) == MS_OK && memcmp(k, key, 16) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return st;
}

/* Entry i and where its text starts (the previous entry's end), checked on their own. */
static enum ms_status
snapblob_entry_at(const struct snapblob_src *src, const char *sync_id,
                  const struct snapblob_head *h, uint32_t i, struct snap_ent *e, uint32_t *start,
                  struct ms_error *err)
{
    uint8_t raw[4 + MS_SNAPBLOB_ENTRY];
    size_t skip = i > 0 ? 4 : 0; /* the previous entry's last field: where its text ends */
    enum ms_status st = src->read(src->ud, raw, MS_SNAPBLOB_ENTRY + skip,
                                  MS_SNAPBLOB_HEAD + (size_t)i * MS_SNAPBLOB_ENTRY - skip, err);
    const char *why = NULL;

    if (st != MS_OK)
        return st;
    ms_store_snapblob_entry(raw + skip, e);
    *start = i > 0 ? snapblob_u32(raw) & SNAPBLOB_END_MASK : 0;
    if (e->del && e->text)
        why = "a delete with a key text";
    else if (*start > e->end || e->end > h->text_len)
        why = "a key text outside the text area";
    else if (!e->text && e->end != *start)
        why = "text bytes for an entry without text";
    return why != NULL ? ms_store_snapblob_damaged(sync_id, why, err) : MS_OK;
}

enum ms_status
ms_store_snapblob_find(const struct snapblob_src *src, const char *sync_id, const uint8_t key[16],
                       bool *found, struct snap_ent *e, size_t *text_off, size_t *text_len,
                       struct ms_error *err)
{
    uint8_t raw[MS_SNAPBLOB_HEAD];
    struct snapblob_head h;
    uint32_t at = 0, start = 0;
    enum ms_status st = MS_OK;

    *found = false;
    if (src->len < MS_SNAPBLOB_HEAD || (st = src->read(src->ud, raw, sizeof(raw), 0, err)) != MS_OK)
        return st != MS_OK ? st : ms_store_snapblob_damaged(sync_id, "bad header", err);
    if (!ms_store_snapblob_head(raw, src->len, &h))
        return ms_store_snapblob_damaged(sync_id, "bad header", err);
    if ((st = snapblob_lower_bound(src, &h, key, &at, err)) != MS_OK || at == h.n)
        return st;
    if ((st = snapblob_entry_at(src, sync_id, &h, at, e, &start, err)) != MS_OK)
        return st;
    if (memcmp(e->key, key, 16) != 0)
        return MS_OK;
    *found = true;
    *text_off = MS_SNAPBLOB_HEAD + (size_t)h.n * MS_SNAPBLOB_ENTRY + start;
    *text_len = e->end - start;
    return MS_OK;
}

/* ---- the merge of runs ---- */

/* A sequential reader of [off, end) of one blob through a window of cap bytes. */
struct snaprun_win {
    sqlite3_blob *h; /* borrowed from the run */
    size_t off, end; /* the next byte to read into buf; the end of the stream */
    uint8_t *buf;    /* owned */
    size_t cap, def; /* its size; the size to return to after a long text */
    size_t lo, hi;   /* buf[lo, hi) is read and not taken yet */
};

/* One run being merged: its current entry (the last one taken) and that entry's text. */
struct snaprun {
    int64_t id;
    uint64_t k0, k1; /* cur.key as two big-endian halves: the heap compares these */
    sqlite3_blob *h; /* owned */
    struct snaprun_win ent, txt;
    struct snapblob_head head;
    uint32_t next; /* entries taken */
    struct snap_ent cur;
    const uint8_t *text; /* cur's text in txt.buf (texts only) */
    size_t text_len;
};

struct snap_runs {
    struct store_sqlite *s;
    const char *sync_id; /* borrowed, for messages */
    bool texts;
    struct snaprun *runs; /* owned, [n] */
    size_t n;
    struct snaprun **heap; /* the runs with a current entry: smallest key, then newest, first */
    size_t nheap;
};

/* Refill w so that n bytes are ready, growing it for a text longer than the window. */
static int
snaprun_fill(struct snaprun_win *w, size_t n)
{
    size_t have = w->hi - w->lo, want;
    int rc;

    if (have > 0 && w->lo > 0)
        memmove(w->buf, w->buf + w->lo, have);
    w->lo = 0;
    w->hi = have;
    if (n > w->cap || (w->cap > w->def && n <= w->def && have <= w->def)) {
        w->cap = n > w->def ? n : w->def;
        w->buf = ms_xrealloc(w->buf, w->cap);
    }
    want = w->cap - have;
    if (want > w->end - w->off)
        want = w->end - w->off;
    if (have + want < n)
        return SQLITE_CORRUPT; /* the stream ends first: the header lied */
    rc = sqlite3_blob_read(w->h, w->buf + have, (int)want, (int)w->off);
    if (rc == SQLITE_OK) {
        w->off += want;
        w->hi += want;
    }
    return rc;
}

/* The next n bytes of w at *p, valid until the next take. */
static int
snaprun_take(struct snaprun_win *w, size_t n, const uint8_t **p)
{
    int rc = SQLITE_OK;

    if (w->hi - w->lo < n)
        rc = snaprun_fill(w, n);
    if (rc == SQLITE_OK) {
        *p = w->buf + w->lo;
        w->lo += n;
    }
    return rc;
}

static void
snaprun_win_init(struct snaprun_win *w, sqlite3_blob *h, size_t off, size_t end, size_t cap)
{
    memset(w, 0, sizeof(*w));
    w->h = h;
    w->off = off;
    w->end = end;
    if (cap > end - off)
        cap = end - off > 64 ? end - off : 64; /* no more than the stream */
    w->cap = w->def = cap;
    w->buf = ms_xmalloc(cap);
}

/* A failed read of run r: a short stream means a damaged blob, anything else SQLite's error. */
static enum ms_status
snaprun_fail(struct snap_runs *m, const struct snaprun *r, int rc, const char *why,
             struct ms_error *err)
{
    char what[96];

    if (rc == SQLITE_CORRUPT || why != NULL) {
        snprintf(what, sizeof(what), "run %lld: %s", (long long)r->id,
                 why != NULL ? why : "shorter than its header says");
        return ms_store_snapblob_damaged(m->sync_id, what, err);
    }
    return ms_store_sq_fail(m->s, err, rc, "snapshot read");
}

/* Take r's next entry (and its text) into r->cur; *more false when r has none left. */
static enum ms_status
snaprun_advance(struct snap_runs *m, struct snaprun *r, bool *more, struct ms_error *err)
{
    struct snap_ent prev = r->cur;
    const uint8_t *p = NULL;
    const char *why;
    int rc;

    *more = r->next < r->head.n;
    if (!*more) {
        why = ms_store_snapblob_ends(r->head.n > 0 ? &r->cur : NULL, &r->head);
        return why != NULL ? snaprun_fail(m, r, SQLITE_OK, why, err) : MS_OK;
    }
    if ((rc = snaprun_take(&r->ent, MS_SNAPBLOB_ENTRY, &p)) != SQLITE_OK)
        return snaprun_fail(m, r, rc, NULL, err);
    ms_store_snapblob_entry(p, &r->cur);
    r->k0 = snapblob_be64(p);
    r->k1 = snapblob_be64(p + 8);
    why = ms_store_snapblob_follows(r->next > 0 ? &prev : NULL, &r->cur, &r->head, true);
    if (why != NULL)
        return snaprun_fail(m, r, SQLITE_OK, why, err);
    r->text_len = r->cur.end - (r->next > 0 ? prev.end : 0);
    r->next++;
    if (m->texts && r->text_len > 0 && (rc = snaprun_take(&r->txt, r->text_len, &r->text)) != 0)
        return snaprun_fail(m, r, rc, NULL, err);
    return MS_OK;
}

/* Random reads of one run for snaprun_seek (snapblob_src). */
struct snaprun_src {
    struct snap_runs *m;
    struct snaprun *r;
};

static enum ms_status
snaprun_src_read(void *ud, void *dst, size_t n, size_t off, struct ms_error *err)
{
    struct snaprun_src *x = ud;
    int rc = sqlite3_blob_read(x->r->h, dst, (int)n, (int)off);

    return rc == SQLITE_OK ? MS_OK : snaprun_fail(x->m, x->r, rc, NULL, err);
}

/*
 * Start r at its first entry whose key is not below from: a binary search, then the entry
 * before it read as r->cur, for the order check and where the next text starts (*text_at).
 */
static enum ms_status
snaprun_seek(struct snap_runs *m, struct snaprun *r, size_t len, const uint8_t from[16],
             size_t *text_at, struct ms_error *err)
{
    struct snaprun_src x = {m, r};
    struct snapblob_src src = {.read = snaprun_src_read, .ud = &x, .len = len};
    uint32_t at = 0, start = 0;
    enum ms_status st = snapblob_lower_bound(&src, &r->head, from, &at, err);

    if (st == MS_OK && at > 0)
        st = snapblob_entry_at(&src, m->sync_id, &r->head, at - 1, &r->cur, &start, err);
    r->next = at;
    *text_at = at > 0 ? r->cur.end : 0;
    return st;
}

/*
 * Open run r (its id set) with windows of win bytes after checking its header, at its first
 * entry (from NULL) or at its first entry not below from.
 */
static enum ms_status
snaprun_open(struct snap_runs *m, struct snaprun *r, size_t win, const uint8_t *from,
             struct ms_error *err)
{
    uint8_t raw[MS_SNAPBLOB_HEAD];
    size_t len, ents, text_at = 0;
    enum ms_status st;
    int rc = sqlite3_blob_open(m->s->db, "main", "snapshot_deltas", "body", r->id, 0, &r->h);

    if (rc != SQLITE_OK)
        return ms_store_sq_fail(m->s, err, rc, "snapshot read: open a run");
    len = (size_t)sqlite3_blob_bytes(r->h);
    if (len < MS_SNAPBLOB_HEAD)
        return snaprun_fail(m, r, SQLITE_OK, "bad header", err);
    if ((rc = sqlite3_blob_read(r->h, raw, MS_SNAPBLOB_HEAD, 0)) != SQLITE_OK)
        return snaprun_fail(m, r, rc, NULL, err);
    if (!ms_store_snapblob_head(raw, len, &r->head))
        return snaprun_fail(m, r, SQLITE_OK, "bad header", err);
    if (from != NULL && (st = snaprun_seek(m, r, len, from, &text_at, err)) != MS_OK)
        return st;
    ents = MS_SNAPBLOB_HEAD + (size_t)r->head.n * MS_SNAPBLOB_ENTRY;
    snaprun_win_init(&r->ent, r->h, MS_SNAPBLOB_HEAD + (size_t)r->next * MS_SNAPBLOB_ENTRY, ents,
                     m->texts ? win - win / 3 : win);
    if (m->texts)
        snaprun_win_init(&r->txt, r->h, ents + text_at, len, win / 3);
    return MS_OK;
}

/* Heap order: the smaller key first; for one key, the newer run (larger id) first. */
static bool
snaprun_before(const struct snaprun *a, const struct snaprun *b)
{
    if (a->k0 != b->k0)
        return a->k0 < b->k0;
    if (a->k1 != b->k1)
        return a->k1 < b->k1;
    return a->id > b->id;
}

static void
snaprun_sift_down(struct snap_runs *m, size_t i)
{
    struct snaprun *x = m->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= m->nheap)
            break;
        if (c + 1 < m->nheap && snaprun_before(m->heap[c + 1], m->heap[c]))
            c++;
        if (!snaprun_before(m->heap[c], x))
            break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    m->heap[i] = x;
}

/* Advance the run at the top of the heap and restore the heap. */
static enum ms_status
snaprun_pop(struct snap_runs *m, struct ms_error *err)
{
    bool more = false;
    enum ms_status st = snaprun_advance(m, m->heap[0], &more, err);

    if (st != MS_OK)
        return st;
    if (!more)
        m->heap[0] = m->heap[--m->nheap];
    if (m->nheap > 0)
        snaprun_sift_down(m, 0);
    return MS_OK;
}

enum ms_status
ms_store_sq_runs_open(struct store_sqlite *s, const char *sync_id, const int64_t *ids, size_t n,
                      bool texts, const uint8_t *from, struct snap_runs **out, struct ms_error *err)
{
    struct snap_runs *m = ms_xcalloc(1, sizeof(*m));
    size_t win = n > 0 ? SNAPRUN_BUDGET / n : SNAPRUN_WIN_MAX;
    enum ms_status st = MS_OK;

    win = win < SNAPRUN_WIN_MIN ? SNAPRUN_WIN_MIN : win > SNAPRUN_WIN_MAX ? SNAPRUN_WIN_MAX : win;
    m->s = s;
    m->sync_id = sync_id;
    m->texts = texts;
    m->runs = ms_xcalloc(n > 0 ? n : 1, sizeof(*m->runs));
    m->heap = ms_xcalloc(n > 0 ? n : 1, sizeof(*m->heap));
    for (size_t i = 0; i < n && st == MS_OK; i++) {
        bool more = false;

        m->runs[i].id = ids[i];
        m->n = i + 1;
        st = snaprun_open(m, &m->runs[i], win, from, err);
        if (st == MS_OK)
            st = snaprun_advance(m, &m->runs[i], &more, err);
        if (st == MS_OK && more)
            m->heap[m->nheap++] = &m->runs[i];
    }
    for (size_t i = m->nheap / 2; st == MS_OK && i-- > 0;)
        snaprun_sift_down(m, i);
    if (st != MS_OK) {
        ms_store_sq_runs_free(m);
        return st;
    }
    *out = m;
    return MS_OK;
}

const struct snap_ent *
ms_store_sq_runs_cur(const struct snap_runs *m, const char **text, size_t *len)
{
    const struct snaprun *r;

    if (m->nheap == 0)
        return NULL;
    r = m->heap[0];
    if (text != NULL) {
        *text = r->cur.text ? (r->text_len > 0 ? (const char *)r->text : "") : NULL;
        *len = r->text_len;
    }
    return &r->cur;
}

enum ms_status
ms_store_sq_runs_next(struct snap_runs *m, struct ms_error *err)
{
    uint64_t k0, k1;
    enum ms_status st = MS_OK;

    if (m->nheap == 0)
        return MS_OK;
    k0 = m->heap[0]->k0;
    k1 = m->heap[0]->k1;
    while (st == MS_OK && m->nheap > 0 && m->heap[0]->k0 == k0 && m->heap[0]->k1 == k1)
        st = snaprun_pop(m, err);
    return st;
}

void
ms_store_sq_runs_free(struct snap_runs *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        sqlite3_blob_close(m->runs[i].h);
        free(m->runs[i].ent.buf);
        free(m->runs[i].txt.buf);
    }
    free(m->runs);
    free(m->heap);
    free(m);
}

#ifdef MS_TESTING
size_t
ms_store_sq_runs_mem(const struct snap_runs *m)
{
    size_t n = sizeof(*m) + m->n * (sizeof(*m->runs) + sizeof(*m->heap));

    for (size_t i = 0; i < m->n; i++)
        n += m->runs[i].ent.cap + m->runs[i].txt.cap;
    return n;
}
#endif
