/*
 * notif.c - the notification record and its JSON encoding (see notif.h for
 * the layout). Used by the listener (encode), the dispatcher (decode and
 * re-encode for retries and dead letters) and pushrelayctl (dlq).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "jbuf.h"

void notif_init(struct pr_notif *n)
{
    memset(n, 0, sizeof(*n));
    n->badge = -1;
}

/* The optional string fields, by JSON key, in encoding order. */
#define NOTIF_STR_FIELDS(X, n)                                              \
    X("from", (n)->from) X("to", (n)->to) X("title", (n)->title)            \
    X("body", (n)->body) X("sound", (n)->sound) X("coll", (n)->collapse_id) \
    X("last", (n)->last) X("wpk", (n)->wp_p256dh) X("wpa", (n)->wp_auth)

/* The record's strings, by JSON key: the required ones, then the optional ones. */
#define NOTIF_ALL_STRS(X, n)                                                     \
    X("id", (n)->id) X("dom", (n)->domain) X("app", (n)->app) X("tok", (n)->token) \
    NOTIF_STR_FIELDS(X, n)
#define NOTIF__ADDR(key, field) &(field),
/* What notif_clear frees and notif_decode_view moves into its store. */
#define NOTIF_OWNED_STRS(n) { NOTIF_ALL_STRS(NOTIF__ADDR, n) }

void notif_clear(struct pr_notif *n)
{
    char **strs[] = NOTIF_OWNED_STRS(n);
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    if (n->data != NULL)
        json_decref(n->data);
    notif_init(n);
}

int notif_set_str(char **field, const char *s)
{
    char *copy = NULL;
    if (s != NULL && (copy = strdup(s)) == NULL)
        return PR_ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The record is written directly (jbuf.h) rather than through a jansson
 * tree: it is encoded once per accepted MESSAGE, and building and dumping a
 * tree cost more than the rest of the ingest path together. Only 'data'
 * (already a tree) goes through json_dumpb.
 */
int notif_encode_jbuf(const struct pr_notif *n, struct jbuf *out)
{
    if (n->id == NULL || n->domain == NULL || n->app == NULL || n->token == NULL ||
        (n->data != NULL && !json_is_object(n->data)))
        return PR_EINVAL;   /* data that is not an object would not decode again */
    struct jbuf *b = out;
    jbuf_open(b, NULL);
    jbuf_int(b, "v", PR_NOTIF_VERSION);
    jbuf_str(b, "id", n->id);
    jbuf_str(b, "dom", n->domain);
    jbuf_str(b, "prov", pr_provider_name(n->provider));
    jbuf_str(b, "app", n->app);
    jbuf_str(b, "tok", n->token);
    jbuf_int(b, "voip", n->voip);
    jbuf_str(b, "ev", pr_event_name(n->event));
    jbuf_str(b, "prio", pr_priority_name(n->priority));
    jbuf_int(b, "ttl", n->ttl_s);
    jbuf_int(b, "acc", n->accepted_ms);
    jbuf_int(b, "exp", n->expires_ms);
    jbuf_int(b, "att", n->attempts);
#define X(key, field) if ((field) != NULL) jbuf_str(b, key, field);
    NOTIF_STR_FIELDS(X, n)
#undef X
    if (n->badge >= 0)
        jbuf_int(b, "badge", n->badge);
    if (n->trace)
        jbuf_int(b, "trace", 1);
    if (n->data != NULL)
        jbuf_json(b, "data", n->data);
    jbuf_close(b);
    return b->err;
}

int notif_encode(const struct pr_notif *n, char **out, size_t *outlen)
{
    struct jbuf b = JBUF_INIT;
    int rc = notif_encode_jbuf(n, &b);
    if (rc != 0) {
        jbuf_free(&b);
        return rc;
    }
    return jbuf_finish(&b, out, outlen);
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * A record is decoded once per delivery attempt, so the dispatcher reads it
 * without a jansson tree when it can. notif_scan reads what notif_encode
 * writes (members in any order, whitespace, escapes in strings) and gives
 * up on anything else: an unknown or repeated key, a number that is not a
 * plain integer in range, \u0000, a lone surrogate, anything malformed. A
 * record it gives up on is decoded again by jansson (notif_decode_tree),
 * which stays the definition of what a record is; the scanner only accepts
 * what jansson reads the same way, so the two never disagree. 'data' is
 * still a jansson tree: the scanner finds its text, json_loadb parses it.
 */

#define NOTIF_SCAN_GIVE_UP 1    /* positive: never a PR_E* code */
#define NOTIF_NAME_MAX 16       /* "missed-call" and the like */
#define NOTIF_DATA_DEPTH 64     /* deeper data goes to jansson, whose limit is 2048 */

struct notif_rd {
    const unsigned char *p, *end;
    char *store, *store_end;    /* notif_decode_view: strings are written here one after
                                   another; NULL: each string is malloc'd */
};

static void rd_ws(struct notif_rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* rd_byte consumes 'c' after any whitespace; 0, or NOTIF_SCAN_GIVE_UP if it is not next. */
static int rd_byte(struct notif_rd *r, unsigned char c)
{
    rd_ws(r);
    if (r->p == r->end || *r->p != c)
        return NOTIF_SCAN_GIVE_UP;
    r->p++;
    return 0;
}

/*
 * rd_plain reads a string without escapes or non-ASCII (keys, provider and
 * event names): '*s' points at its text in the record, '*len' is its length.
 */
static int rd_plain(struct notif_rd *r, const char **s, size_t *len)
{
    if (rd_byte(r, '"') != 0)
        return NOTIF_SCAN_GIVE_UP;
    const unsigned char *start = r->p;
    while (r->p < r->end && *r->p >= 0x20 && *r->p < 0x80 && *r->p != '"' && *r->p != '\\')
        r->p++;
    if (r->p == r->end || *r->p != '"')
        return NOTIF_SCAN_GIVE_UP;
    *s = (const char *)start;
    *len = (size_t)(r->p++ - start);
    return 0;
}

static int rd_hex4(const unsigned char *p, unsigned *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return NOTIF_SCAN_GIVE_UP;
        *cp = *cp << 4 | d;
    }
    return 0;
}

/*
 * rd_escape decodes the escape after a backslash at 'r->p' into 'w' and
 * returns the bytes written (1 to 4), or 0 to give up.
 */
static int rd_escape(struct notif_rd *r, char *w)
{
    static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    if (r->p == r->end)
        return 0;
    unsigned char c = *r->p++;
    for (const char *e = simple; *e != '\0'; e += 2)
        if (c == (unsigned char)e[0]) {
            *w = e[1];
            return 1;
        }
    unsigned cp, lo;
    if (c != 'u' || r->end - r->p < 4 || rd_hex4(r->p, &cp) != 0)
        return 0;
    r->p += 4;
    if (cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
        return 0;      /* NUL, or a low surrogate alone */
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
            rd_hex4(r->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
            return 0;
        r->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp < 0x80) {
        w[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        w[0] = (char)(0xc0 | cp >> 6);
        w[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        w[0] = (char)(0xe0 | cp >> 12);
        w[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        w[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    w[0] = (char)(0xf0 | cp >> 18);
    w[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    w[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    w[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* rd_str_end: the closing quote of the string whose text starts at 'p', or NULL. */
static const unsigned char *rd_str_end(const unsigned char *p, const unsigned char *end)
{
    while (p < end && *p != '"') {
        if (*p == '\\' && ++p == end)
            return NULL;
        p++;
    }
    return p < end ? p : NULL;
}

/*
 * rd_str reads a string value into '*field', which must still be empty (a
 * repeated key gives up): a malloc'd copy, or the next bytes of r->store.
 * Text is copied as is up to the first escape; escapes never decode to more
 * bytes than they take, so the record's length bounds the copy.
 */
static int rd_str(struct notif_rd *r, char **field)
{
    if (*field != NULL || rd_byte(r, '"') != 0)
        return NOTIF_SCAN_GIVE_UP;
    const unsigned char *start = r->p, *q = rd_str_end(r->p, r->end);
    if (q == NULL)
        return NOTIF_SCAN_GIVE_UP;
    size_t cap = (size_t)(q - start) + 1;
    char *out;
    if (r->store != NULL) {
        if ((size_t)(r->store_end - r->store) < cap)
            return NOTIF_SCAN_GIVE_UP;  /* cannot happen: the store holds the record */
        out = r->store;
        r->store += cap;    /* at most: the unused tail of a string with escapes stays a gap */
    } else if ((out = malloc(cap)) == NULL) {
        return NOTIF_SCAN_GIVE_UP;      /* jansson's path reports it, as it always has */
    }
    char *w = out;
    *field = out;   /* notif_clear frees it (not a view's) whatever happens next */
    while (*r->p != '"') {
        const unsigned char *run = r->p;
        while (*r->p >= 0x20 && *r->p < 0x80 && *r->p != '"' && *r->p != '\\')
            r->p++;
        memcpy(w, run, (size_t)(r->p - run));
        w += r->p - run;
        if (*r->p == '"')
            break;
        int n;
        if (*r->p == '\\') {
            r->p++;
            n = rd_escape(r, w);
        } else if (*r->p >= 0x80 && (n = (int)jbuf_utf8_len(r->p, (size_t)(r->end - r->p))) > 0) {
            memcpy(w, r->p, (size_t)n);
            r->p += n;
        } else {
            n = 0;      /* a raw control character, or not UTF-8 */
        }
        if (n == 0)
            return NOTIF_SCAN_GIVE_UP;
        w += n;
    }
    *w = '\0';
    r->p++;
    return 0;
}

/* rd_int reads an integer as jansson would, giving up on reals and on more than 18 digits. */
static int rd_int(struct notif_rd *r, long long *v)
{
    rd_ws(r);
    int neg = r->p < r->end && *r->p == '-';
    const unsigned char *digits = r->p + neg, *q = digits;
    while (q < r->end && *q >= '0' && *q <= '9')
        q++;
    size_t n = (size_t)(q - digits);
    if (n == 0 || n > 18 || (n > 1 && digits[0] == '0') ||
        (q < r->end && (*q == '.' || *q == 'e' || *q == 'E')))
        return NOTIF_SCAN_GIVE_UP;
    long long x = 0;
    for (const unsigned char *d = digits; d < q; d++)
        x = x * 10 + (*d - '0');
    r->p = q;
    *v = neg ? -x : x;
    return 0;
}

/* rd_data finds the object that starts at 'r->p' and has jansson parse it into '*data'. */
static int rd_data(struct notif_rd *r, json_t **data)
{
    rd_ws(r);
    if (*data != NULL || r->p == r->end || *r->p != '{')
        return NOTIF_SCAN_GIVE_UP;
    const unsigned char *start = r->p;
    int depth = 0;
    do {
        if (r->p == r->end)
            return NOTIF_SCAN_GIVE_UP;
        unsigned char c = *r->p++;
        if (c == '"') {
            if ((r->p = rd_str_end(r->p, r->end)) == NULL)
                return NOTIF_SCAN_GIVE_UP;
            r->p++;
        } else if (c == '{' || c == '[') {
            if (++depth > NOTIF_DATA_DEPTH)
                return NOTIF_SCAN_GIVE_UP;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    } while (depth > 0);
    *data = json_loadb((const char *)start, (size_t)(r->p - start), 0, NULL);
    return *data != NULL && json_is_object(*data) ? 0 : NOTIF_SCAN_GIVE_UP;
}

/* rd_name reads a short plain string into 'buf' (NUL-terminated). */
static int rd_name(struct notif_rd *r, char buf[NOTIF_NAME_MAX])
{
    const char *s;
    size_t len;
    if (buf[0] != '\0' || rd_plain(r, &s, &len) != 0 || len == 0 || len >= NOTIF_NAME_MAX)
        return NOTIF_SCAN_GIVE_UP;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

/* The integer members, in the order of notif_scan's 'nums'. */
enum { NOTIF_V, NOTIF_VOIP, NOTIF_TTL, NOTIF_ACC, NOTIF_EXP, NOTIF_ATT, NOTIF_BADGE, NOTIF_TRACE,
       NOTIF_NUMS };

/*
 * Keys are matched once per member of every record the dispatcher reads.
 * None is longer than NOTIF_KEY_MAX bytes, so a key is read into a
 * zero-padded word and compared with each candidate as one 8-byte memcmp
 * (a single compare once inlined), not by length and memcmp per candidate.
 */
#define NOTIF_KEY_MAX 8
enum notif_kind { NOTIF_K_STR, NOTIF_K_NUM, NOTIF_K_NAME, NOTIF_K_DATA };
#define NOTIF__KEY(key, field) { key, NOTIF_K_STR, 0 },
static const struct notif_key {
    char name[NOTIF_KEY_MAX];
    unsigned char kind, idx;    /* idx: into notif_scan's 'nums' or 'names' */
} notif_keys[] = {
    NOTIF_ALL_STRS(NOTIF__KEY, _)   /* first: entry i is NOTIF_OWNED_STRS' i-th */
    { "v", NOTIF_K_NUM, NOTIF_V },         { "prov", NOTIF_K_NAME, 0 },
    { "voip", NOTIF_K_NUM, NOTIF_VOIP },   { "ev", NOTIF_K_NAME, 1 },
    { "prio", NOTIF_K_NAME, 2 },           { "ttl", NOTIF_K_NUM, NOTIF_TTL },
    { "acc", NOTIF_K_NUM, NOTIF_ACC },     { "exp", NOTIF_K_NUM, NOTIF_EXP },
    { "att", NOTIF_K_NUM, NOTIF_ATT },     { "badge", NOTIF_K_NUM, NOTIF_BADGE },
    { "trace", NOTIF_K_NUM, NOTIF_TRACE }, { "data", NOTIF_K_DATA, 0 },
};
#undef NOTIF__KEY

/* notif_key_find: the notif_keys entry of key 'k' ('klen' bytes), or NULL. */
static const struct notif_key *notif_key_find(const char *k, size_t klen)
{
    char word[NOTIF_KEY_MAX] = { 0 };
    if (klen > NOTIF_KEY_MAX)
        return NULL;
    for (size_t i = 0; i < klen; i++)
        word[i] = k[i];
    for (size_t i = 0; i < sizeof(notif_keys) / sizeof(notif_keys[0]); i++)
        if (memcmp(word, notif_keys[i].name, NOTIF_KEY_MAX) == 0)
            return &notif_keys[i];
    return NULL;
}

/*
 * notif_scan decodes 'len' bytes of 'json' into 'out' (initialised by the
 * caller). Returns 0, or NOTIF_SCAN_GIVE_UP when jansson must decide;
 * 'out' may then hold part of the record.
 */
static int notif_scan(const char *json, size_t len, struct pr_notif *out, char *store)
{
    struct notif_rd r = { (const unsigned char *)json, (const unsigned char *)json + len, store,
                          store != NULL ? store + len : NULL };
    long long nums[NOTIF_NUMS] = { 0 };
    unsigned seen = 0;  /* bit per nums[] entry */
    char names[3][NOTIF_NAME_MAX] = { "", "", "" };     /* prov, ev, prio */
    char **strs[] = NOTIF_OWNED_STRS(out);     /* notif_keys' first entries, in order */
    int rc;

    if (rd_byte(&r, '{') != 0)
        return NOTIF_SCAN_GIVE_UP;
    for (;;) {
        const char *k;
        size_t klen;
        if (rd_plain(&r, &k, &klen) != 0 || rd_byte(&r, ':') != 0)
            return NOTIF_SCAN_GIVE_UP;
        const struct notif_key *key = notif_key_find(k, klen);
        if (key == NULL)
            return NOTIF_SCAN_GIVE_UP;  /* an unknown key */
        switch (key->kind) {
        case NOTIF_K_STR:
            rc = rd_str(&r, strs[key - notif_keys]);
            break;
        case NOTIF_K_NUM:
            rc = (seen & 1u << key->idx) ? NOTIF_SCAN_GIVE_UP : rd_int(&r, &nums[key->idx]);
            seen |= 1u << key->idx;
            break;
        case NOTIF_K_NAME:
            rc = rd_name(&r, names[key->idx]);
            break;
        default:
            rc = rd_data(&r, &out->data);
            break;
        }
        if (rc != 0)
            return rc;
        rd_ws(&r);
        if (r.p == r.end)
            return NOTIF_SCAN_GIVE_UP;
        unsigned char c = *r.p++;
        if (c == '}')
            break;
        if (c != ',')
            return NOTIF_SCAN_GIVE_UP;
    }
    rd_ws(&r);
    /* What jansson's path requires; anything short of it is its to refuse. */
    const unsigned required = 1u << NOTIF_V | 1u << NOTIF_TTL | 1u << NOTIF_ACC |
                              1u << NOTIF_EXP | 1u << NOTIF_ATT;
    if (r.p != r.end || (seen & required) != required || nums[NOTIF_V] != PR_NOTIF_VERSION ||
        out->id == NULL || out->domain == NULL || out->app == NULL || out->token == NULL ||
        pr_provider_parse(names[0], &out->provider) != 0 ||
        pr_event_parse(names[1], &out->event) != 0 ||
        pr_priority_parse(names[2], &out->priority) != 0)
        return NOTIF_SCAN_GIVE_UP;
    /* Fields jansson unpacks as int: out of range is its business. */
    const int as_int[] = { NOTIF_TTL, NOTIF_ATT, NOTIF_BADGE };
    for (size_t i = 0; i < sizeof(as_int) / sizeof(as_int[0]); i++)
        if ((seen & 1u << as_int[i]) && (nums[as_int[i]] < INT_MIN || nums[as_int[i]] > INT_MAX))
            return NOTIF_SCAN_GIVE_UP;
    out->ttl_s = (int)nums[NOTIF_TTL];
    out->attempts = (int)nums[NOTIF_ATT];
    out->accepted_ms = nums[NOTIF_ACC];
    out->expires_ms = nums[NOTIF_EXP];
    out->voip = (seen & 1u << NOTIF_VOIP) && nums[NOTIF_VOIP] != 0;
    out->trace = (seen & 1u << NOTIF_TRACE) && nums[NOTIF_TRACE] != 0;
    if (seen & 1u << NOTIF_BADGE)
        out->badge = (int)nums[NOTIF_BADGE];
    return 0;
}

static int take_str(json_t *o, const char *key, char **field, int required)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return required ? PR_EINVAL : 0;
    if (!json_is_string(v))
        return PR_EINVAL;
    return notif_set_str(field, json_string_value(v));
}

int notif_decode_tree(const char *json, size_t len, struct pr_notif *out)
{
    notif_init(out);
    json_t *o = json_loadb(json, len, 0, NULL);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return PR_EINVAL;
    }
    int rc = PR_EINVAL;
    const char *prov = NULL, *ev = NULL, *prio = NULL;
    json_int_t acc = 0, exp = 0;
    int v = 0;
    if (json_unpack(o, "{s:i, s:s, s:s, s:s, s:i, s:I, s:I, s:i}", "v", &v, "prov", &prov,
                    "ev", &ev, "prio", &prio, "ttl", &out->ttl_s, "acc", &acc, "exp", &exp,
                    "att", &out->attempts) != 0 || v != PR_NOTIF_VERSION)
        goto out;
    if (pr_provider_parse(prov, &out->provider) != 0 || pr_event_parse(ev, &out->event) != 0 ||
        pr_priority_parse(prio, &out->priority) != 0)
        goto out;
    out->accepted_ms = acc;
    out->expires_ms = exp;
    json_t *voip = json_object_get(o, "voip");
    out->voip = json_is_integer(voip) && json_integer_value(voip) != 0;
    json_t *trace = json_object_get(o, "trace");
    out->trace = json_is_integer(trace) && json_integer_value(trace) != 0;
    json_t *badge = json_object_get(o, "badge");
    if (badge != NULL) {
        if (!json_is_integer(badge))
            goto out;
        out->badge = (int)json_integer_value(badge);
    }
    if (take_str(o, "id", &out->id, 1) || take_str(o, "dom", &out->domain, 1) ||
        take_str(o, "app", &out->app, 1) || take_str(o, "tok", &out->token, 1))
        goto out;
#define X(key, field) if (take_str(o, key, &(field), 0) != 0) goto out;
    NOTIF_STR_FIELDS(X, out)
#undef X
    json_t *data = json_object_get(o, "data");
    if (data != NULL) {
        if (!json_is_object(data))
            goto out;
        out->data = json_incref(data);
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

int notif_decode(const char *json, size_t len, struct pr_notif *out)
{
    notif_init(out);
    if (notif_scan(json, len, out, NULL) == 0)
        return 0;
    notif_clear(out);   /* whatever the scanner had read so far */
    return notif_decode_tree(json, len, out);
}

/*
 * A view's strings all live in the caller's store: the scanner writes them
 * there directly; what it gives up on is decoded by jansson's path (its own
 * malloc'd strings) and then moved into the store. Every string of the
 * record takes at least its two quotes more in the record than decoded with
 * its NUL, so 'len' bytes always hold them.
 */
int notif_decode_view(const char *json, size_t len, struct pr_notif *out, char *store)
{
    notif_init(out);
    if (notif_scan(json, len, out, store) == 0)
        return 0;
    notif_view_clear(out);  /* whatever the scanner had read so far */
    int rc = notif_decode_tree(json, len, out);
    char **strs[] = NOTIF_OWNED_STRS(out);
    char *w = store, *end = store + len;
    for (size_t i = 0; rc == 0 && i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (*strs[i] == NULL)
            continue;
        size_t n = strlen(*strs[i]) + 1;
        if ((size_t)(end - w) < n) {
            rc = PR_EINVAL;     /* cannot happen (see above): refused rather than overrun */
            for (size_t k = 0; k < i; k++)
                *strs[k] = NULL;        /* moved: the store's, not notif_clear's */
            break;
        }
        memcpy(w, *strs[i], n);
        free(*strs[i]);
        *strs[i] = w;
        w += n;
    }
    if (rc != 0)
        notif_clear(out);   /* what is left is malloc'd */
    return rc;
}

void notif_view_clear(struct pr_notif *n)
{
    if (n->data != NULL)
        json_decref(n->data);
    notif_init(n);
}
