/*
 * provider_desc.c - the table of provider descriptors (see provider_desc.h)
 * and the rules the descriptors of providers whose tokens name their host
 * share (the allowed-host check, the app id as pn-param). The descriptors themselves live with their providers.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "provider_desc.h"

/* Generated from PR_PROVIDERS: a provider without a descriptor does not link. */
#define PROVIDER_DESC(e, name) [PR_PROVIDER_##e] = &name##_desc,
static const struct provider_desc *const descs[PR_PROVIDER_COUNT] = {
    PR_PROVIDERS(PROVIDER_DESC)
};
#undef PROVIDER_DESC

const struct provider_desc *provider_desc(enum pr_provider p)
{
    return (unsigned)p < PR_PROVIDER_COUNT ? descs[p] : NULL;
}

int provider_host_allowed(const struct cfg_app *app, const char *host)
{
    if (app == NULL || host == NULL || host[0] == '\0')
        return 0;
    size_t hlen = strlen(host);
    for (size_t i = 0; i < app->n_allowed_hosts; i++) {
        const char *p = app->allowed_hosts[i];
        if (strncmp(p, "*.", 2) == 0) {
            /* "*.notify.live.net": one or more labels before ".notify.live.net" */
            const char *suffix = p + 1;
            size_t slen = strlen(suffix);
            if (hlen > slen && strcasecmp(host + hlen - slen, suffix) == 0 &&
                host[0] != '.' && host[hlen - slen - 1] != '.')
                return 1;
        } else if (strcasecmp(host, p) == 0) {
            return 1;
        }
    }
    return 0;
}

int provider_check_channel(const struct cfg_app *app, const char *uri, char *why, size_t whylen)
{
    if (strlen(uri) > PROVIDER_CHANNEL_MAX) {
        snprintf(why, whylen, "pn-prid channel URI longer than %d bytes", PROVIDER_CHANNEL_MAX);
        return 400;
    }
    struct evhttp_uri *u = evhttp_uri_parse(uri);
    int status = 0;
    if (u == NULL || evhttp_uri_get_scheme(u) == NULL || evhttp_uri_get_host(u) == NULL) {
        snprintf(why, whylen, "pn-prid is not a channel URI");
        status = 400;
    } else if (strcasecmp(evhttp_uri_get_scheme(u), "https") != 0) {
        snprintf(why, whylen, "pn-prid channel URI must be https");
        status = 403;
    } else if (!provider_host_allowed(app, evhttp_uri_get_host(u))) {
        snprintf(why, whylen, "channel host %.64s is not in allowed_hosts of app %s",
                 evhttp_uri_get_host(u), app->id);
        status = 403;
    }
    if (u != NULL)
        evhttp_uri_free(u);
    return status;
}

int provider_match_app_id(const struct cfg_app *app, const char *param, size_t len)
{
    return strlen(app->id) == len && strncmp(app->id, param, len) == 0;
}

void provider_app_id_param(const struct cfg_app *app, char *buf, size_t len)
{
    snprintf(buf, len, "%s", app->id);
}

int provider_needs_allowed_hosts(const struct cfg_app *app, struct provider_app_err *err)
{
    if (app->n_allowed_hosts > 0)
        return 0;
    err->key = "allowed_hosts";
    err->msg = "required key is missing";
    return -1;
}
