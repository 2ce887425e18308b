/*
 * error.c - names for PR_E* codes.
 */
#include "pushrelay/error.h"

const char *pr_strerror(int err)
{
    switch (err) {
    case PR_OK: return "ok";
    case PR_ENOMEM: return "out of memory";
    case PR_EINVAL: return "invalid argument or input";
    case PR_EIO: return "I/O error";
    case PR_ETLS: return "TLS error";
    case PR_EREDIS: return "Redis error";
    case PR_ECONFIG: return "configuration error";
    case PR_ETOOBIG: return "over a size limit";
    case PR_EPROTO: return "protocol error";
    case PR_ENOTFOUND: return "not found";
    case PR_EAGAIN: return "try again later";
    case PR_ECRYPTO: return "cryptographic operation failed";
    case PR_ETIMEDOUT: return "timed out";
    case PR_ESTATE: return "invalid state";
    }
    return "unknown error";
}
