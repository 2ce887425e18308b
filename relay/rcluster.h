/*
 * rcluster.h - what a Redis Cluster client must know of the cluster's
 * protocol, with no I/O: which slot a key hashes to (CRC16 and hash tags,
 * per the Redis Cluster specification), which argument of a command is the
 * key that routes it, the slot map read from a CLUSTER SLOTS reply, and the
 * MOVED / ASK redirections. relay/rconn.c (the daemon's connections) and
 * relay/ctl.c (pushrelayctl) build their cluster mode on it; the unit test
 * tests/unit/test_rcluster.c is its specification.
 */
#ifndef PUSHRELAY_RCLUSTER_H
#define PUSHRELAY_RCLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "pushrelay/config.h"

#define RCLUSTER_SLOTS 16384
#define RCLUSTER_NO_NODE UINT16_MAX     /* an rcluster_map owner entry: slot not served */

/* rcluster_crc16: CRC16-CCITT (XMODEM: poly 0x1021, init 0), the cluster's key hash. */
uint16_t rcluster_crc16(const void *buf, size_t len);

/*
 * rcluster_key_slot: the slot of 'key' ('len' bytes). When the key holds a
 * '{' followed later by a '}' with at least one byte between the first
 * such pair, only those bytes are hashed (the hash tag); otherwise the
 * whole key.
 */
unsigned rcluster_key_slot(const char *key, size_t len);

/*
 * rcluster_cmd_key: the index in 'argv' of the key that routes the command
 * (EVAL/EVALSHA: the first key when numkeys > 0; XREAD/XREADGROUP: the
 * first stream after STREAMS; XGROUP/XINFO subcommands: argv[2]; others:
 * argv[1]), or -1 for a command without keys (PING, TIME, SCRIPT, INFO,
 * ROLE, MULTI, EXEC, DISCARD, WAIT, CLUSTER ...), which any node can serve.
 * 'argvlen' may be NULL (C strings).
 */
int rcluster_cmd_key(int argc, const char **argv, const size_t *argvlen);

/*
 * A slot map: the primary serving each slot. Replicas are not kept: the
 * relay writes everywhere, and a replica answers writes with MOVED.
 *
 *     owner[0 .. 16383] --index--> nodes[0 .. n_nodes-1] = { host, port }
 *                    (RCLUSTER_NO_NODE: no node serves the slot)
 */
struct rcluster_map {
    uint16_t owner[RCLUSTER_SLOTS];
    struct cfg_endpoint *nodes;     /* the primaries, each once */
    size_t n_nodes;
    size_t covered;                 /* slots with an owner */
};

/*
 * rcluster_map_parse reads a CLUSTER SLOTS reply:
 *
 *     [ [start, end, [ip, port, id, ...], [replica ip, port, id, ...]...], ... ]
 *
 * A node whose ip is "" or "?" (the node does not know its own address) is
 * taken to be 'asked_host', the address the reply came from. On success
 * '*out' is a new map (free with rcluster_map_free) and 0 is returned; else
 * PR_EPROTO (a reply of another shape, a slot out of range, a bad port) or
 * PR_ENOMEM, and '*out' is untouched.
 */
int rcluster_map_parse(const redisReply *reply, const char *asked_host, struct rcluster_map **out);

/* rcluster_map_free frees 'm' (NULL is fine). */
void rcluster_map_free(struct rcluster_map *m);

/*
 * rcluster_map_node: the index in m->nodes of 'host':'port', or -1 when it
 * is not a primary of the map.
 */
int rcluster_map_node(const struct rcluster_map *m, const char *host, unsigned port);

enum rcluster_redirect_kind {
    RCLUSTER_MOVED,     /* the slot lives elsewhere now: refresh the map, resend there */
    RCLUSTER_ASK,       /* the slot is migrating: send ASKING then the command there, once */
};

struct rcluster_redirect {
    enum rcluster_redirect_kind kind;
    unsigned slot;
    struct cfg_endpoint to;     /* host "" when Redis named no address: the node that answered */
};

/*
 * rcluster_redirect_parse reads an error reply "MOVED <slot> <host>:<port>"
 * or "ASK <slot> <host>:<port>" ('len' bytes of 'err'; the host may be an
 * IPv6 address, bare as Redis writes it or in brackets). Returns 0 with
 * '*out' filled, or PR_EINVAL for any other error or a malformed one.
 */
int rcluster_redirect_parse(const char *err, size_t len, struct rcluster_redirect *out);

/*
 * rcluster_error_transient: 1 when 'err' says the cluster is settling
 * (CLUSTERDOWN, TRYAGAIN): the command failed, the slot map may be stale
 * and the same command may succeed later.
 */
int rcluster_error_transient(const char *err);

#endif
