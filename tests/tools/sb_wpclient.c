/*
 * sb_wpclient.c - play a Web Push application server against the
 * sandbox's push service with the relay's own modules: relay/ece.c
 * encrypts (RFC 8291), relay/vapid.c signs (RFC 8292). It writes the
 * aes128gcm body to a file and prints the Authorization value; the test
 * POSTs them with curl, so the HTTP/2 client is an independent one.
 *
 *   sb_wpclient [--sign-for URL] [--clock-offset S] [--k-from OTHER.pem] --
 *               ENDPOINT P256DH AUTH VAPID.pem SUBJECT TEXT BODY.out
 *
 *   --sign-for URL     sign the JWT for URL's origin instead of ENDPOINT's (a wrong aud)
 *   --clock-offset S   sign as if the clock were S seconds ahead (negative: behind),
 *                      so exp lands in the past or more than 24 h ahead
 *   --k-from PEM       send k= of another key than the one that signed
 *
 * Exit 0 on success, 1 when a step fails (named on stderr), 2 on usage.
 * Used by tests/integration/test_sandbox_ext.sh.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "pushrelay/error.h"
#include "ece.h"
#include "jwt.h"
#include "vapid.h"

static int usage(void)
{
    fprintf(stderr, "usage: sb_wpclient [--sign-for URL] [--clock-offset S] [--k-from OTHER.pem] --\n"
                    "       ENDPOINT P256DH AUTH VAPID.pem SUBJECT TEXT BODY.out\n"
                    "(\"--\": a base64url argument may start with '-')\n");
    return 2;
}

/* wp_write_file writes 'len' bytes of 'data' to 'path'; -1 on failure. */
static int wp_write_file(const char *path, const unsigned char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* wp_swap_k prints 'auth' with its k= replaced by the public key of 'pem'. */
static int wp_swap_k(const char *auth, const char *pem)
{
    char err[256];
    unsigned char pub[ECE_PUBLIC_LEN];
    EVP_PKEY *other = jwt_load_key(pem, err, sizeof(err));
    char *k = NULL;
    const char *kpos = strstr(auth, "k=");
    int rc = -1;
    if (other == NULL || kpos == NULL || ece_public_raw(other, pub) != 0 ||
        (k = jwt_b64url(pub, sizeof(pub))) == NULL) {
        fprintf(stderr, "sb_wpclient: --k-from %s: %s\n", pem, other == NULL ? err : "not a P-256 key");
        goto out;
    }
    printf("%.*sk=%s\n", (int)(kpos - auth), auth, k);
    rc = 0;
out:
    free(k);
    EVP_PKEY_free(other);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "sign-for", required_argument, NULL, 's' },
        { "clock-offset", required_argument, NULL, 'c' },
        { "k-from", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 },
    };
    const char *sign_for = NULL, *k_from = NULL;
    long offset = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 's')
            sign_for = optarg;
        else if (opt == 'c')
            offset = strtol(optarg, NULL, 10);
        else if (opt == 'k')
            k_from = optarg;
        else
            return usage();
    }
    if (argc - optind != 7)
        return usage();
    const char *endpoint = argv[optind], *p256dh = argv[optind + 1], *auth = argv[optind + 2];
    const char *vapid_pem = argv[optind + 3], *subject = argv[optind + 4];
    const char *text = argv[optind + 5], *out_path = argv[optind + 6];

    struct ece_sub sub;
    const char *field = NULL;
    char err[256];
    unsigned char *body = NULL;
    size_t body_len = 0;
    struct vapid_cache *cache = NULL;
    const char *header = NULL;
    int status = 1, rc;
    EVP_PKEY *key = jwt_load_key(vapid_pem, err, sizeof(err));

    if (key == NULL) {
        fprintf(stderr, "sb_wpclient: %s: %s\n", vapid_pem, err);
        goto out;
    }
    if ((rc = ece_sub_parse(p256dh, auth, &sub, &field)) != 0) {
        fprintf(stderr, "sb_wpclient: bad subscription %s: %s\n", field, pr_strerror(rc));
        goto out;
    }
    if ((rc = ece_encrypt(&sub, (const unsigned char *)text, strlen(text), &body, &body_len)) != 0 ||
        wp_write_file(out_path, body, body_len) != 0) {
        fprintf(stderr, "sb_wpclient: cannot encrypt into %s: %s\n", out_path, pr_strerror(rc));
        goto out;
    }
    if ((rc = vapid_cache_new(key, subject, &cache)) != 0 ||
        (rc = vapid_header(cache, sign_for != NULL ? sign_for : endpoint,
                           (int64_t)time(NULL) + offset, &header)) != 0) {
        fprintf(stderr, "sb_wpclient: cannot sign: %s\n", pr_strerror(rc));
        goto out;
    }
    if (k_from != NULL) {
        if (wp_swap_k(header, k_from) != 0)
            goto out;
    } else {
        printf("%s\n", header);
    }
    status = 0;
out:
    vapid_cache_del(cache);
    free(body);
    EVP_PKEY_free(key);
    return status;
}
