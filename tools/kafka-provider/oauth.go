package main

// SASL OAUTHBEARER with tokens from an OAuth 2.0 client-credentials grant
// (saslMechanism: oauthbearer), the way upstream terraform-provider-kafka does
// it: golang.org/x/oauth2/clientcredentials with saslTokenUrl, client id =
// saslUsername, secret = saslPassword (and saslOauthScopes), over a plain HTTP
// client, so the token endpoint's certificate is checked against the system's
// roots (SSL_CERT_FILE / SSL_CERT_DIR), never against the provider's caCert,
// which is for the brokers. A token is cached and fetched again shortly before
// it expires; franz-go asks for one on every new connection and on every
// re-authentication (KIP-368) that a broker's session lifetime calls for.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenEarlyRefresh: a cached token is replaced when it has less than this left,
// so that a connection never authenticates with a token about to expire (the
// broker ends the session when the token does). A token that lives shorter than
// this is fetched anew for each use.
const tokenEarlyRefresh = 30 * time.Second

// checkOAuthConfig adds a failure, naming the property, for each input that
// saslMechanism oauthbearer needs and lacks (values not known yet are no failure).
func checkOAuthConfig(cfg *providerConfig, computed func(string) bool, fail func(prop, format string, args ...any)) {
	switch {
	case cfg.SASLTokenURL != "":
		if u, err := url.Parse(cfg.SASLTokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			fail("saslTokenUrl", "saslTokenUrl is not an http(s) URL: %q", redactURL(cfg.SASLTokenURL))
		}
	case !computed("saslTokenUrl"):
		fail("saslTokenUrl", "saslTokenUrl is required when saslMechanism is oauthbearer: the identity provider's token endpoint (client-credentials grant), e.g. https://keycloak.example.com/realms/kafka/protocol/openid-connect/token (or set KAFKA_SASL_TOKEN_URL)")
	}
	if cfg.SASLUsername == "" && !computed("saslUsername") {
		fail("saslUsername", "saslUsername is required when saslMechanism is oauthbearer: the OAuth client id")
	}
	if cfg.SASLPassword == "" && !computed("saslPassword") {
		fail("saslPassword", "saslPassword is required when saslMechanism is oauthbearer: the OAuth client secret")
	}
}

// redactURL hides a password in the URL's user info, should there be one.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// oauthTokens fetches and caches the access tokens of one provider configuration.
type oauthTokens struct {
	tokenURL, clientID, secret string
	src                        oauth2.TokenSource // caching, safe for concurrent use
}

func newOAuthTokens(cfg *providerConfig) *oauthTokens {
	cc := &clientcredentials.Config{
		ClientID:     cfg.SASLUsername,
		ClientSecret: cfg.SASLPassword,
		TokenURL:     cfg.SASLTokenURL,
		Scopes:       cfg.SASLOAuthScopes,
		// AuthStyle left at auto-detect, as upstream: HTTP Basic first, then the
		// credentials in the form body if the endpoint refuses that.
	}
	// http.DefaultTransport's settings: the system's roots, proxies from the
	// environment (as upstream's default client). Bounded: upstream's is not, but a
	// token endpoint that never answers would otherwise hang every connection.
	client := &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		Timeout:   min(cfg.Timeout, 30*time.Second),
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	return &oauthTokens{
		tokenURL: cfg.SASLTokenURL, clientID: cfg.SASLUsername, secret: cfg.SASLPassword,
		src: oauth2.ReuseTokenSourceWithExpiry(nil, cc.TokenSource(ctx), tokenEarlyRefresh),
	}
}

// token returns a valid access token, fetching one when the cached one is
// (nearly) expired. Errors are one line that names the token endpoint.
func (o *oauthTokens) token() (string, error) {
	t, err := o.src.Token()
	if err != nil {
		return "", o.describe(err)
	}
	if t.AccessToken == "" {
		return "", fmt.Errorf("SASL OAUTHBEARER: token endpoint %s returned an empty access token for client %q", redactURL(o.tokenURL), o.clientID)
	}
	return t.AccessToken, nil
}

// mechanism is the franz-go SASL mechanism that authenticates with token().
func (o *oauthTokens) mechanism() sasl.Mechanism {
	return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		tok, err := o.token()
		if err != nil {
			return oauth.Auth{}, err
		}
		return oauth.Auth{Token: tok}, nil
	})
}

// describe turns a token fetch error into one line: the endpoint, the client
// and what the endpoint said (RFC 6749 error code and description, or its
// HTTP status), never the secret. The error is not wrapped on purpose: franz-go
// retries connection errors that wrap a system call error, and a refused
// client does not heal by retrying for the provider's whole timeout.
func (o *oauthTokens) describe(err error) error {
	where := fmt.Sprintf("SASL OAUTHBEARER: token endpoint %s", redactURL(o.tokenURL))
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := ""
		if re.Response != nil {
			status = re.Response.Status
		}
		if re.ErrorCode != "" {
			msg := fmt.Sprintf("%s refused client %q: %s", where, o.clientID, re.ErrorCode)
			if re.ErrorDescription != "" {
				msg += " (" + re.ErrorDescription + ")"
			}
			if status != "" {
				msg += ", HTTP " + status
			}
			return errors.New(o.scrub(msg))
		}
		return errors.New(o.scrub(fmt.Sprintf("%s refused client %q: HTTP %s: %s", where, o.clientID, status, oneLine(string(re.Body), 200))))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the method and URL; its cause is what matters.
		return errors.New(o.scrub(fmt.Sprintf("%s could not be reached: %s", where, oneLine(ue.Err.Error(), 300))))
	}
	return errors.New(o.scrub(fmt.Sprintf("%s: client %q: %s", where, o.clientID, oneLine(strings.TrimPrefix(err.Error(), "oauth2: "), 300))))
}

// scrub removes the client secret, should an endpoint have echoed it.
func (o *oauthTokens) scrub(s string) string {
	if o.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, o.secret, "***")
}

// oneLine collapses whitespace (a response body may be an HTML page) and cuts to max runes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	if s == "" {
		return "(empty response)"
	}
	return s
}
