"""fcm_service_account.py - writes an FCM service-account JSON file for tests.

  fcm_service_account.py KEY.pem PROJECT TOKEN_URI OUT.json [--email E] [--key-id K]

KEY.pem is the account's RSA private key (PKCS#8 PEM, as openssl genpkey
writes it); the relay signs its OAuth assertions with it and the sandbox
verifies them with the same file. The email defaults to
relay@PROJECT.iam.gserviceaccount.com, the key id to "k1".
"""
import argparse
import json

ap = argparse.ArgumentParser()
ap.add_argument("key")
ap.add_argument("project")
ap.add_argument("token_uri")
ap.add_argument("out")
ap.add_argument("--email")
ap.add_argument("--key-id", default="k1")
a = ap.parse_args()
with open(a.key, encoding="ascii") as f:
    key = f.read()
account = {"type": "service_account", "project_id": a.project,
           "private_key_id": a.key_id, "private_key": key,
           "client_email": a.email or "relay@%s.iam.gserviceaccount.com" % a.project,
           "token_uri": a.token_uri}
with open(a.out, "w", encoding="ascii") as f:
    json.dump(account, f, indent=2)
