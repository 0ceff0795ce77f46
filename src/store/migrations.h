/*
 * migrations.h: the store's schema migrations, embedded in the binary at build time from
 * src/store/migrations/NNNN-name.sql (scripts/embed-migrations.sh). A released migration is
 * never edited: a change is a new file with the next number.
 */
#ifndef MS_STORE_MIGRATIONS_H
#define MS_STORE_MIGRATIONS_H

#include <stddef.h>

struct ms_migration {
    int version;      /* the NNNN prefix */
    const char *name; /* file name without .sql */
    const char *sql;  /* the whole script */
};

extern const struct ms_migration ms_migrations[];
extern const size_t ms_migrations_count;

#endif
