/*
 * error.h - pushrelay's error codes.
 *
 * Every function that can fail returns 0 or a negative PR_E* code (the libuv
 * convention); pr_strerror() names it for logs and CLI messages.
 */
#ifndef PUSHRELAY_ERROR_H
#define PUSHRELAY_ERROR_H

enum pr_err {
    PR_OK = 0,
    PR_ENOMEM = -1,     /* allocation failed */
    PR_EINVAL = -2,     /* bad argument or malformed input */
    PR_EIO = -3,        /* socket or file I/O failed */
    PR_ETLS = -4,       /* TLS setup or handshake failed */
    PR_EREDIS = -5,     /* Redis unreachable or answered an error */
    PR_ECONFIG = -6,    /* configuration refused */
    PR_ETOOBIG = -7,    /* input over a configured limit */
    PR_EPROTO = -8,     /* peer violated its protocol */
    PR_ENOTFOUND = -9,  /* no such record */
    PR_EAGAIN = -10,    /* try again later (not ready yet, backpressure) */
    PR_ECRYPTO = -11,   /* key loading, signing or verification failed */
    PR_ETIMEDOUT = -12, /* deadline passed */
    PR_ESTATE = -13,    /* call not valid in the object's current state */
};

/* pr_strerror returns a static, human-readable name for 'err' (0 or PR_E*). */
const char *pr_strerror(int err);

#endif
