/*
 * sb_map.c - string-keyed hash map of int64 values (open addressing, linear
 * probing, FNV-1a hash, grows at 50% load).
 *
 * Used by the sandbox's JWT cache, token store and behaviour counters; it
 * knows nothing of what the values mean.
 */
#include <stdlib.h>
#include <string.h>

#include "sb_map.h"

struct sb_map_entry {
    char *key;          /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    int64_t value;
};

struct sb_map {
    struct sb_map_entry *slots;
    size_t cap;         /* power of two */
    size_t count;
};

static uint64_t map_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct sb_map *sb_map_new(void)
{
    struct sb_map *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->cap = 64;
    m->slots = calloc(m->cap, sizeof(*m->slots));
    if (m->slots == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void sb_map_clear(struct sb_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->count = 0;
}

void sb_map_free(struct sb_map *m)
{
    if (m == NULL)
        return;
    sb_map_clear(m);
    free(m->slots);
    free(m);
}

size_t sb_map_count(const struct sb_map *m) { return m->count; }

static struct sb_map_entry *map_find(struct sb_map_entry *slots, size_t cap, const char *key,
                                     size_t len, uint64_t hash)
{
    size_t i = (size_t)hash & (cap - 1);
    for (;;) {
        struct sb_map_entry *e = &slots[i];
        if (e->key == NULL)
            return e;
        if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
            return e;
        i = (i + 1) & (cap - 1);
    }
}

int64_t *sb_map_get(struct sb_map *m, const char *key, size_t len)
{
    struct sb_map_entry *e = map_find(m->slots, m->cap, key, len, map_hash(key, len));
    return e->key != NULL ? &e->value : NULL;
}

static int map_grow(struct sb_map *m)
{
    size_t cap = m->cap * 2;
    struct sb_map_entry *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct sb_map_entry *old = &m->slots[i];
        if (old->key != NULL)
            *map_find(slots, cap, old->key, old->len, old->hash) = *old;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int64_t *sb_map_slot(struct sb_map *m, const char *key, size_t len, int *created)
{
    uint64_t hash = map_hash(key, len);
    struct sb_map_entry *e = map_find(m->slots, m->cap, key, len, hash);
    *created = 0;
    if (e->key != NULL)
        return &e->value;
    if ((m->count + 1) * 2 > m->cap) {
        if (map_grow(m) != 0)
            return NULL;
        e = map_find(m->slots, m->cap, key, len, hash);
    }
    e->key = malloc(len + 1);
    if (e->key == NULL)
        return NULL;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = len;
    e->hash = hash;
    e->value = 0;
    m->count++;
    *created = 1;
    return &e->value;
}
