"""OAuth clients of the secure platform's Keycloak realm, through Keycloak's Admin REST API.

    clients.py ensure NAME [--audience AUD | --no-audience]   # create (or re-enable) NAME, print its secret
    clients.py revoke NAME                                    # disable NAME: its tokens are refused from then on

Each client uses the client-credentials grant (a service account, no users, no browser flows); its
access tokens carry `azp` = NAME, which the brokers' OAUTHBEARER listener takes as the principal
(User:NAME), and `aud` = the audience the brokers expect (K2_OAUTH_AUDIENCE), unless --no-audience
(the wrong-audience case) or another --audience is asked for.

Run by tools/platform.sh (start --secure: the infra principal's client; `client`: an app's). The
admin credentials are the platform's bootstrap admin client, created in the master realm at each
Keycloak start from KC_BOOTSTRAP_ADMIN_CLIENT_ID/SECRET; read from the environment, never argv.
Standard library only: platform.sh runs it before any project virtualenv may exist.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request


class KeycloakError(Exception):
    pass


def _call(method: str, url: str, token: str | None = None, body: object = None, form: dict | None = None) -> object:
    headers = {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise KeycloakError(f"{method} {url}: HTTP {exc.code} {detail}") from None
    except OSError as exc:
        raise KeycloakError(f"{method} {url}: {exc}") from None
    return json.loads(text) if text.strip() else None


class Realm:
    def __init__(self, base_url: str, realm: str, admin_id: str, admin_secret: str) -> None:
        self.base = base_url.rstrip("/")
        self.realm = realm
        answer = _call(
            "POST",
            f"{self.base}/realms/master/protocol/openid-connect/token",
            form={"grant_type": "client_credentials", "client_id": admin_id, "client_secret": admin_secret},
        )
        self.token = answer["access_token"]  # type: ignore[index]

    def _clients_url(self) -> str:
        return f"{self.base}/admin/realms/{self.realm}/clients"

    def find(self, client_id: str) -> dict | None:
        query = urllib.parse.urlencode({"clientId": client_id})
        found = _call("GET", f"{self._clients_url()}?{query}", self.token)
        return found[0] if found else None  # type: ignore[index]

    def ensure(self, client_id: str, audience: str | None) -> str:
        mappers = []
        if audience:
            mappers.append(
                {
                    "name": f"audience {audience}",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-audience-mapper",
                    "config": {
                        "included.custom.audience": audience,
                        "access.token.claim": "true",
                        "id.token.claim": "false",
                    },
                }
            )
        secret = secrets.token_hex(20)
        representation = {
            "clientId": client_id,
            "name": f"k2 platform client {client_id} (client-credentials grant)",
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": False,
            "clientAuthenticatorType": "client-secret",
            "secret": secret,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
            "implicitFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "protocolMappers": mappers,
        }
        existing = self.find(client_id)
        if existing is not None:
            # a client asked for again (a test's second run, or after `revoke`): a fresh one, with a new secret
            _call("DELETE", f"{self._clients_url()}/{existing['id']}", self.token)
        _call("POST", self._clients_url(), self.token, representation)
        return secret

    def revoke(self, client_id: str) -> None:
        existing = self.find(client_id)
        if existing is None:
            raise KeycloakError(f"realm {self.realm} has no client {client_id}")
        existing["enabled"] = False
        _call("PUT", f"{self._clients_url()}/{existing['id']}", self.token, existing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["ensure", "revoke"])
    parser.add_argument("name")
    parser.add_argument("--audience", default=os.environ.get("K2_OAUTH_AUDIENCE", "kafka"))
    parser.add_argument("--no-audience", action="store_true")
    args = parser.parse_args(argv)
    try:
        realm = Realm(
            os.environ["K2_KEYCLOAK_URL"],
            os.environ["K2_KEYCLOAK_REALM"],
            os.environ["K2_KEYCLOAK_ADMIN_CLIENT_ID"],
            os.environ["K2_KEYCLOAK_ADMIN_CLIENT_SECRET"],
        )
        if args.action == "ensure":
            print(realm.ensure(args.name, None if args.no_audience else args.audience))
        else:
            realm.revoke(args.name)
    except KeyError as exc:
        print(f"clients.py: {exc.args[0]} is not set", file=sys.stderr)
        return 2
    except KeycloakError as exc:
        print(f"clients.py: Keycloak refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
