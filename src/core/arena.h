/*
 * arena.h: region allocator with deferred cleanups. One owner per arena: a request (freed in
 * MHD's completion callback), or an execution batch (reset after every batch). Not thread-safe:
 * an arena is used by one thread at a time.
 */
#ifndef MS_CORE_ARENA_H
#define MS_CORE_ARENA_H

#include <stddef.h>

struct ms_arena;

typedef void (*ms_defer_fn)(void *arg);

/* A new, empty arena. Never NULL. */
struct ms_arena *ms_arena_new(void);

/* Run the defers newest first, then release all memory. NULL is a no-op. */
void ms_arena_free(struct ms_arena *a);

/* Run the defers and forget all allocations, keeping the first block for reuse. */
void ms_arena_reset(struct ms_arena *a);

/* n bytes aligned for any type, valid until the next reset/free. Never NULL. Not zeroed. */
void *ms_arena_alloc(struct ms_arena *a, size_t n);

/* Zeroed variant of ms_arena_alloc(). */
void *ms_arena_zalloc(struct ms_arena *a, size_t n);

/* Copies living in the arena; s may be NULL (returns NULL). */
char *ms_arena_strdup(struct ms_arena *a, const char *s);
char *ms_arena_strndup(struct ms_arena *a, const char *s, size_t n);

/* printf into the arena. */
char *ms_arena_printf(struct ms_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Run fn(arg) at reset/free, newest first (json_decref, sqlite3_finalize, unlink ...). */
void ms_arena_defer(struct ms_arena *a, ms_defer_fn fn, void *arg);

/* Bytes handed out since the last reset (for tests and the batch-size guard). */
size_t ms_arena_used(const struct ms_arena *a);

#endif
