/*
 * provider.c - wire names of providers, events and priorities.
 */
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/provider.h"

#define PROVIDER_NAME(e, name) #name,
static const char *const provider_names[PR_PROVIDER_COUNT] = { PR_PROVIDERS(PROVIDER_NAME) };
#undef PROVIDER_NAME
/* ", apns, fcm, mpns": pr_provider_list skips the leading separator. */
#define PROVIDER_LIST(e, name) ", " #name
static const char provider_list[] = PR_PROVIDERS(PROVIDER_LIST);
#undef PROVIDER_LIST
static const char *const event_names[PR_EVENT_COUNT] = {
    "im", "call", "missed-call", "voicemail", "conference"
};
static const char *const priority_names[] = { "normal", "high" };

static int name_lookup(const char *const *names, int count, const char *name)
{
    for (int i = 0; name != NULL && i < count; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return PR_EINVAL;
}

const char *pr_provider_name(enum pr_provider p)
{
    return (unsigned)p < PR_PROVIDER_COUNT ? provider_names[p] : "?";
}

int pr_provider_parse(const char *name, enum pr_provider *out)
{
    int i = name_lookup(provider_names, PR_PROVIDER_COUNT, name);
    if (i < 0)
        return i;
    *out = (enum pr_provider)i;
    return 0;
}

const char *pr_provider_list(void)
{
    return provider_list + 2;
}

const char *pr_event_name(enum pr_event e)
{
    return (unsigned)e < PR_EVENT_COUNT ? event_names[e] : "?";
}

int pr_event_parse(const char *name, enum pr_event *out)
{
    int i = name_lookup(event_names, PR_EVENT_COUNT, name);
    if (i < 0)
        return i;
    *out = (enum pr_event)i;
    return 0;
}

const char *pr_priority_name(enum pr_priority p)
{
    return p == PR_PRIORITY_HIGH ? priority_names[1] : priority_names[0];
}

int pr_priority_parse(const char *name, enum pr_priority *out)
{
    int i = name_lookup(priority_names, 2, name);
    if (i < 0)
        return i;
    *out = (enum pr_priority)i;
    return 0;
}
