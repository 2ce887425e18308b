/*
 * sb_map.h - a string-keyed hash map of 64-bit values, for the sandbox's
 * caches: verified JWTs, issued access tokens, per-token attempt counts.
 *
 * Keys are copied in; values are plain integers so that an entry costs one
 * allocation (its key) and a lookup none. There is no delete: callers bound
 * growth with sb_map_count() and sb_map_clear().
 */
#ifndef PUSHRELAY_SANDBOX_SB_MAP_H
#define PUSHRELAY_SANDBOX_SB_MAP_H

#include <stddef.h>
#include <stdint.h>

struct sb_map;

/* sb_map_new returns an empty map or NULL when out of memory. */
struct sb_map *sb_map_new(void);
/* sb_map_free releases the map and its keys; NULL is fine. */
void sb_map_free(struct sb_map *m);

/* sb_map_get returns a pointer to the value of 'key' ('len' bytes) or NULL. */
int64_t *sb_map_get(struct sb_map *m, const char *key, size_t len);

/*
 * sb_map_slot returns the value of 'key', inserting it with value 0 when
 * absent ('*created' set to 1 then). The pointer stays valid until the next
 * insertion or clear. NULL when out of memory.
 */
int64_t *sb_map_slot(struct sb_map *m, const char *key, size_t len, int *created);

/* sb_map_count is the number of keys; sb_map_clear removes them all. */
size_t sb_map_count(const struct sb_map *m);
void sb_map_clear(struct sb_map *m);

#endif
