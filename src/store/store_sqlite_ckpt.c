/*
 * store_sqlite_ckpt.c: WAL checkpoints off the threads that commit. By SQLite's default, the
 * commit that takes the WAL past 1,000 pages copies the WAL into the database file, so whoever
 * commits next pays for everyone's writes: an API request after a snapshot fold, or an
 * execution's lease renewal, copies tens of megabytes. Here each handle's WAL hook only wakes
 * the checkpointer of its database file (one thread per file per process, with its own
 * connection), which runs PASSIVE checkpoints: they never wait for readers or writers, and
 * copy what no reader still needs. A commit checkpoints on its own thread only when the WAL has
 * passed CKPT_FORCE_PAGES, i.e. when the checkpointer cannot keep up (or could not open its
 * connection). The last handle of a file stops its thread, whose connection, the last one to
 * close, checkpoints the rest and removes the WAL. fork() is safe: the child starts with no
 * checkpointers (pthread_atfork), since the parent's threads do not exist there.
 */
#include "store/store_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#include "core/xmalloc.h"

#define CKPT_PAGES 1000        /* WAL pages that wake the checkpointer (SQLite's default) */
#define CKPT_FORCE_PAGES 16384 /* 64 MiB of 4 KiB pages: the committing thread checkpoints */
#ifdef MS_TESTING
atomic_bool ms_store_sq_ckpt_hold;
int ms_store_sq_ckpt_force_pages = CKPT_FORCE_PAGES;
#define CKPT_FORCE ms_store_sq_ckpt_force_pages
#else
#define CKPT_FORCE CKPT_FORCE_PAGES
#endif

struct ms_store_sq_ckpt {
    struct ms_store_sq_ckpt *next;
    char *path; /* owned */
    int refs;   /* open handles of the file */
    pid_t pid;  /* the process whose thread th is */
    bool wanted, stop;
    pthread_cond_t cv;
    pthread_t th;
};

static pthread_mutex_t ckpt_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ms_store_sq_ckpt *ckpt_list; /* under ckpt_mu */

static void *
ckpt_main(void *arg)
{
    struct ms_store_sq_ckpt *c = arg;
    sqlite3 *db = NULL;

    /* a connection checkpoints nothing until a read has found the database in WAL mode */
    if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(db); /* the commits checkpoint themselves past CKPT_FORCE_PAGES */
        db = NULL;
    }
    pthread_mutex_lock(&ckpt_mu);
    for (;;) {
        while (!c->wanted && !c->stop)
            pthread_cond_wait(&c->cv, &ckpt_mu);
        if (c->stop)
            break;
        c->wanted = false;
        pthread_mutex_unlock(&ckpt_mu);
#ifdef MS_TESTING
        while (atomic_load(&ms_store_sq_ckpt_hold))
            usleep(1000);
#endif
        if (db != NULL)
            sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&ckpt_mu);
    }
    pthread_mutex_unlock(&ckpt_mu);
    sqlite3_close(db);
    return NULL;
}

/* sqlite3_wal_hook: after every commit, with the pages now in the WAL. */
static int
ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct ms_store_sq_ckpt *c = arg;

    if (pages >= CKPT_FORCE) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= CKPT_PAGES) {
        pthread_mutex_lock(&ckpt_mu);
        if (!c->wanted) {
            c->wanted = true;
            pthread_cond_signal(&c->cv);
        }
        pthread_mutex_unlock(&ckpt_mu);
    }
    return SQLITE_OK;
}

static void
ckpt_prepare(void)
{
    pthread_mutex_lock(&ckpt_mu);
}

static void
ckpt_parent(void)
{
    pthread_mutex_unlock(&ckpt_mu);
}

/* The parent's checkpointers are not the child's: their threads do not exist here. */
static void
ckpt_child(void)
{
    ckpt_list = NULL;
    pthread_mutex_unlock(&ckpt_mu);
}

static void
ckpt_once(void)
{
    pthread_atfork(ckpt_prepare, ckpt_parent, ckpt_child);
}

struct ms_store_sq_ckpt *
ms_store_sq_ckpt_attach(sqlite3 *db, const char *path)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct ms_store_sq_ckpt *c;

    pthread_once(&once, ckpt_once);
    if (path[0] == '\0' || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return NULL; /* no WAL, or a name another connection may not resolve the same way */
    pthread_mutex_lock(&ckpt_mu);
    for (c = ckpt_list; c != NULL && strcmp(c->path, path) != 0; c = c->next)
        ;
    if (c == NULL) {
        c = ms_xcalloc(1, sizeof(*c));
        c->path = ms_xstrdup(path);
        c->pid = getpid();
        pthread_cond_init(&c->cv, NULL);
        if (pthread_create(&c->th, NULL, ckpt_main, c) != 0) {
            pthread_mutex_unlock(&ckpt_mu);
            pthread_cond_destroy(&c->cv);
            free(c->path);
            free(c);
            return NULL; /* SQLite's own checkpoints stay on */
        }
        c->next = ckpt_list;
        ckpt_list = c;
    }
    c->refs++;
    pthread_mutex_unlock(&ckpt_mu);
    sqlite3_wal_hook(db, ckpt_hook, c);
    return c;
}

void
ms_store_sq_ckpt_detach(struct ms_store_sq_ckpt *c)
{
    struct ms_store_sq_ckpt **p;

    if (c == NULL || c->pid != getpid())
        return; /* a handle a forked child inherited: its thread is the parent's */
    pthread_mutex_lock(&ckpt_mu);
    if (--c->refs > 0) {
        pthread_mutex_unlock(&ckpt_mu);
        return;
    }
    for (p = &ckpt_list; *p != NULL && *p != c; p = &(*p)->next)
        ;
    if (*p == c)
        *p = c->next;
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&ckpt_mu);
    pthread_join(c->th, NULL);
    pthread_cond_destroy(&c->cv);
    free(c->path);
    free(c);
}
