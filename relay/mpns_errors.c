/*
 * mpns_errors.c - the MPNS error table (classify.h). Called through
 * pr_classify by the dispatcher with what relay/mpns.c reported: the HTTP
 * status and the three X-*Status response headers joined by '/'.
 */
#include <string.h>

#include "classify.h"

/*
 * mpns_part copies part 'idx' (0: NotificationStatus, 1: SubscriptionStatus,
 * 2: DeviceConnectionStatus) of 'reason' into 'buf'; "" when absent.
 */
static void mpns_part(const char *reason, int idx, char *buf, size_t buflen)
{
    const char *p = reason;
    for (int i = 0; i < idx && p != NULL; i++) {
        p = strchr(p, '/');
        if (p != NULL)
            p++;
    }
    buf[0] = '\0';
    if (p == NULL)
        return;
    size_t len = strcspn(p, "/");
    if (len >= buflen)
        len = buflen - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
}

enum pr_outcome mpns_classify(struct pr_result *res)
{
    char notif_status[32], sub_status[32];
    int st = res->status;
    if (st < 0)
        return PR_OUTCOME_DEAD_LETTER;
    if (st < 100)
        return PR_OUTCOME_RETRY;
    mpns_part(res->reason, 0, notif_status, sizeof(notif_status));
    mpns_part(res->reason, 1, sub_status, sizeof(sub_status));
    if (st == 404 || strcmp(sub_status, "Expired") == 0)
        return PR_OUTCOME_TOKEN_DEAD;
    switch (st) {
    case 200:
        if (strcmp(notif_status, "QueueFull") == 0 || strcmp(notif_status, "Suppressed") == 0)
            return PR_OUTCOME_RETRY;
        return PR_OUTCOME_DELIVERED;
    case 406:   /* per-day throttle of an unauthenticated channel */
        return PR_OUTCOME_RETRY;
    case 412:
        /* The device is inactive: MPNS asks senders to wait an hour at least. */
        if (res->retry_after_s < MPNS_INACTIVE_RETRY_S)
            res->retry_after_s = MPNS_INACTIVE_RETRY_S;
        return PR_OUTCOME_RETRY;
    }
    if (st >= 500 && st <= 599)
        return PR_OUTCOME_RETRY;
    return PR_OUTCOME_DEAD_LETTER;
}
