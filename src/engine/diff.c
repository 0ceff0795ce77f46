/*
 * diff.c: the in-memory snapshot index a run diffs against (BENCHMARKS.md S8: ≤ 32 B/row).
 *
 * A slot is 16 bytes: the 64-bit prefixes of the key hash and of the row hash; the full 128-bit
 * hashes stay in the store. Seen marks live in a separate bitmap (1 bit per slot) so the probe
 * loop reads only slots. The home slot is fastrange(prefix, cap) (Lemire), so cap can be sized
 * to the snapshot exactly (70% full after loading) instead of rounding to a power of two: at
 * most 16 / 0.7 + 1/8 ≈ 23 bytes per snapshot row, 30 after one growth step. Linear probing:
 * a hit costs about 1.5 probes at that load, all in one or two cache lines.
 *
 * Keys the snapshot does not hold go into a plain set of 64-bit prefixes (8-byte slots), only
 * to spot a key met twice in one run. One thread at a time.
 */
#include "engine/engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#define IX_MIN_CAP 64

void
ms_eng_hash_bytes(struct ms_hash128 h, uint8_t out[16])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(h.lo >> (8 * i));
        out[8 + i] = (uint8_t)(h.hi >> (8 * i));
    }
}

uint64_t
ms_eng_prefix(const uint8_t b[16])
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v != 0 ? v : 1; /* 0 marks an empty slot */
}

/* floor(key * cap / 2^64): a uniform key maps uniformly onto [0, cap). */
static size_t
ix_home(uint64_t key, size_t cap)
{
#ifdef __SIZEOF_INT128__
    return (size_t)(((unsigned __int128)key * cap) >> 64);
#else
    uint64_t a = key >> 32, b = key & 0xffffffffu, c = (uint64_t)cap >> 32,
             d = (uint64_t)cap & 0xffffffffu;
    uint64_t mid = (b * d >> 32) + (a * d & 0xffffffffu) + (b * c & 0xffffffffu);

    return (size_t)(a * c + (a * d >> 32) + (b * c >> 32) + (mid >> 32));
#endif
}

static void
ix_alloc(struct ms_eng_index *ix, size_t cap)
{
    ix->cap = cap;
    ix->slot = ms_xcalloc(cap, sizeof(*ix->slot));
    ix->seen = ms_xcalloc((cap + 63) / 64, sizeof(*ix->seen));
    ix->n = ix->nseen = 0;
}

void
ms_eng_index_init(struct ms_eng_index *ix, size_t expect)
{
    size_t cap = expect + expect / 7 * 3 + 1; /* expect / 0.7 */

    ix_alloc(ix, cap < IX_MIN_CAP ? IX_MIN_CAP : cap);
}

void
ms_eng_index_release(struct ms_eng_index *ix)
{
    free(ix->slot);
    free(ix->seen);
    memset(ix, 0, sizeof(*ix));
}

/* The slot holding key, or the empty slot where it would go. */
static size_t
ix_probe(const struct ms_eng_index *ix, uint64_t key)
{
    size_t i = ix_home(key, ix->cap);

    while (ix->slot[i].key != 0 && ix->slot[i].key != key)
        i = i + 1 == ix->cap ? 0 : i + 1;
    return i;
}

bool
ms_eng_index_seen(const struct ms_eng_index *ix, size_t slot)
{
    return (ix->seen[slot / 64] >> (slot % 64)) & 1;
}

bool
ms_eng_index_mark(struct ms_eng_index *ix, size_t slot)
{
    uint64_t bit = UINT64_C(1) << (slot % 64);
    bool was = (ix->seen[slot / 64] & bit) != 0;

    if (!was) {
        ix->seen[slot / 64] |= bit;
        ix->nseen++;
    }
    return was;
}

/* Rehash into a table 1.5 times larger, keeping seen marks. */
static void
ix_grow(struct ms_eng_index *ix)
{
    struct ms_eng_index old = *ix;

    ix_alloc(ix, old.cap + old.cap / 2);
    for (size_t i = 0; i < old.cap; i++) {
        size_t at;

        if (old.slot[i].key == 0)
            continue;
        at = ix_probe(ix, old.slot[i].key);
        ix->slot[at] = old.slot[i];
        ix->n++;
        if (ms_eng_index_seen(&old, i))
            ms_eng_index_mark(ix, at);
    }
    free(old.slot);
    free(old.seen);
}

size_t
ms_eng_index_put(struct ms_eng_index *ix, uint64_t key, uint64_t row)
{
    size_t at;

    MS_ASSERT(key != 0);
    if ((ix->n + 1) * 5 > ix->cap * 4)
        ix_grow(ix);
    at = ix_probe(ix, key);
    if (ix->slot[at].key == 0) {
        ix->slot[at].key = key;
        ix->n++;
    }
    ix->slot[at].row = row;
    return at;
}

size_t
ms_eng_index_find(const struct ms_eng_index *ix, uint64_t key)
{
    size_t at;

    if (ix->cap == 0)
        return MS_ENG_NOT_FOUND;
    at = ix_probe(ix, key);
    return ix->slot[at].key == 0 ? MS_ENG_NOT_FOUND : at;
}

void
ms_eng_index_unmark(struct ms_eng_index *ix)
{
    memset(ix->seen, 0, (ix->cap + 63) / 64 * sizeof(*ix->seen));
    ix->nseen = 0;
}

bool
ms_eng_index_next_gone(const struct ms_eng_index *ix, size_t *pos, struct ms_eng_slot *out)
{
    for (size_t i = *pos; i < ix->cap; i++) {
        if (ix->slot[i].key != 0 && !ms_eng_index_seen(ix, i)) {
            *out = ix->slot[i];
            *pos = i + 1;
            return true;
        }
    }
    *pos = ix->cap;
    return false;
}

size_t
ms_eng_index_bytes(const struct ms_eng_index *ix)
{
    return ix->cap * sizeof(*ix->slot) + (ix->cap + 63) / 64 * sizeof(*ix->seen);
}

/* ---- keys new to the snapshot ---- */

static size_t
ks_probe(const struct ms_eng_keyset *ks, uint64_t key)
{
    size_t i = ix_home(key, ks->cap);

    while (ks->k[i] != 0 && ks->k[i] != key)
        i = i + 1 == ks->cap ? 0 : i + 1;
    return i;
}

static void
ks_grow(struct ms_eng_keyset *ks)
{
    struct ms_eng_keyset old = *ks;

    ks->cap = old.cap < IX_MIN_CAP ? IX_MIN_CAP : old.cap + old.cap / 2;
    ks->k = ms_xcalloc(ks->cap, sizeof(*ks->k));
    for (size_t i = 0; i < old.cap; i++)
        if (old.k[i] != 0)
            ks->k[ks_probe(ks, old.k[i])] = old.k[i];
    free(old.k);
}

bool
ms_eng_keyset_add(struct ms_eng_keyset *ks, uint64_t key)
{
    size_t at;

    MS_ASSERT(key != 0);
    if ((ks->n + 1) * 5 > ks->cap * 4)
        ks_grow(ks);
    at = ks_probe(ks, key);
    if (ks->k[at] == key)
        return false;
    ks->k[at] = key;
    ks->n++;
    return true;
}

bool
ms_eng_keyset_has(const struct ms_eng_keyset *ks, uint64_t key)
{
    return ks->cap > 0 && ks->k[ks_probe(ks, key)] == key;
}

void
ms_eng_keyset_release(struct ms_eng_keyset *ks)
{
    free(ks->k);
    memset(ks, 0, sizeof(*ks));
}
