/*
 * dnsname.c - DNS host name syntax checks (see dnsname.h). Written here
 * rather than taken from a library: the rule is a dozen lines and neither
 * libevent's nor OpenSSL's checkers say "is this a valid name to store".
 */
#include <ctype.h>
#include <string.h>

#include "pushrelay/error.h"
#include "dnsname.h"

int dnsname_valid(const char *name)
{
    if (name == NULL)
        return 0;
    size_t len = strlen(name), label = 0;
    if (len == 0 || len > DNSNAME_MAX)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        char c = name[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || name[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && !(c == '-' && label > 0))
            return 0;
        label++;
    }
    return 1;
}

int dnsname_lower(const char *name, char *buf, size_t buflen)
{
    if (!dnsname_valid(name))
        return PR_EINVAL;
    size_t len = strlen(name);
    if (len >= buflen)
        return PR_ETOOBIG;
    for (size_t i = 0; i <= len; i++)
        buf[i] = (char)tolower((unsigned char)name[i]);
    return 0;
}
