package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const testSecret = "s3cr3t-Value"

func oauthProps(kv ...any) resource.PropertyMap {
	m := pm("bootstrapServers", "h:9092", "tlsEnabled", "false", "saslMechanism", "oauthbearer",
		"saslUsername", "k2infra", "saslPassword", resource.MakeSecret(resource.NewProperty(testSecret)),
		"saslTokenUrl", "https://idp.example.com/realms/k2/protocol/openid-connect/token")
	for k, v := range pm(kv...) {
		if v.IsNull() {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func failureProps(fs []configFailure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Property)
	}
	return out
}

func clearOAuthEnv(t *testing.T) {
	for _, k := range []string{"KAFKA_SASL_TOKEN_URL", "TOKEN_URL", "KAFKA_SASL_OAUTH_SCOPES", "KAFKA_SASL_MECHANISM"} {
		t.Setenv(k, "")
	}
}

func TestOAuthBearerConfigAccepted(t *testing.T) {
	clearOAuthEnv(t)
	// As the Python SDK sends it: the scopes JSON-encoded, the mechanism in any case.
	cfg, fs, warnings, _ := parseConfig(oauthProps("saslMechanism", "OAUTHBEARER", "saslOauthScopes", `["kafka","profile"]`))
	if len(fs) != 0 {
		t.Fatalf("failures: %v", fs)
	}
	if cfg.SASLMechanism != "oauthbearer" || cfg.SASLTokenURL != "https://idp.example.com/realms/k2/protocol/openid-connect/token" ||
		cfg.SASLUsername != "k2infra" || cfg.SASLPassword != testSecret || strings.Join(cfg.SASLOAuthScopes, " ") != "kafka profile" {
		t.Fatalf("cfg %+v", cfg)
	}
	for _, w := range warnings {
		if strings.Contains(w, "saslTokenUrl") || strings.Contains(w, "saslOauthScopes") {
			t.Fatalf("oauth settings warned about: %v", warnings)
		}
	}
	typed, fs, _, _ := parseConfig(oauthProps("saslOauthScopes", resource.NewProperty([]resource.PropertyValue{resource.NewProperty("kafka")})))
	if len(fs) != 0 || strings.Join(typed.SASLOAuthScopes, ",") != "kafka" {
		t.Fatalf("typed scopes: %v %v", typed.SASLOAuthScopes, fs)
	}
}

func TestOAuthBearerMissingInputsFailNamingTheProperty(t *testing.T) {
	clearOAuthEnv(t)
	cases := []struct {
		drop, want, says string
	}{
		{"saslTokenUrl", "saslTokenUrl", "saslTokenUrl is required when saslMechanism is oauthbearer"},
		{"saslUsername", "saslUsername", "saslUsername is required when saslMechanism is oauthbearer: the OAuth client id"},
		{"saslPassword", "saslPassword", "saslPassword is required when saslMechanism is oauthbearer: the OAuth client secret"},
	}
	for _, c := range cases {
		_, fs, _, _ := parseConfig(oauthProps(c.drop, resource.NewNullProperty()))
		if len(fs) != 1 || fs[0].Property != c.want || !strings.Contains(fs[0].Reason, c.says) {
			t.Errorf("without %s: %v", c.drop, fs)
		}
	}
	_, fs, _, _ := parseConfig(pm("bootstrapServers", "h:9092", "saslMechanism", "oauthbearer"))
	if got := strings.Join(failureProps(fs), ","); got != "saslTokenUrl,saslUsername,saslPassword" {
		t.Fatalf("all missing: %v", fs)
	}
	_, fs, _, _ = parseConfig(oauthProps("saslTokenUrl", "ftp://idp/token"))
	if len(fs) != 1 || fs[0].Property != "saslTokenUrl" || !strings.Contains(fs[0].Reason, "not an http(s) URL") {
		t.Fatalf("bad URL: %v", fs)
	}
	_, fs, _, _ = parseConfig(oauthProps("saslTokenUrl", "https://user:pw@idp/token", "saslOauthScopes", resource.NewProperty(3.0)))
	if len(fs) != 1 || fs[0].Property != "saslOauthScopes" {
		t.Fatalf("bad scopes: %v", fs)
	}
}

func TestOAuthBearerValuesNotKnownYetAreNoFailure(t *testing.T) {
	clearOAuthEnv(t)
	computed := resource.MakeComputed(resource.NewProperty(""))
	_, fs, _, unknown := parseConfig(oauthProps("saslTokenUrl", computed, "saslPassword", computed, "saslUsername", computed))
	if len(fs) != 0 || !unknown {
		t.Fatalf("failures %v unknown %v", fs, unknown)
	}
}

func TestOAuthBearerEnvironmentFallbacks(t *testing.T) {
	clearOAuthEnv(t)
	t.Setenv("TOKEN_URL", "http://localhost:1/from-TOKEN_URL")
	cfg, fs, _, _ := parseConfig(oauthProps("saslTokenUrl", resource.NewNullProperty()))
	if len(fs) != 0 || cfg.SASLTokenURL != "http://localhost:1/from-TOKEN_URL" {
		t.Fatalf("TOKEN_URL: %v %q", fs, cfg.SASLTokenURL)
	}
	t.Setenv("KAFKA_SASL_TOKEN_URL", "http://localhost:1/from-KAFKA_SASL_TOKEN_URL")
	t.Setenv("KAFKA_SASL_OAUTH_SCOPES", "kafka, profile")
	t.Setenv("KAFKA_SASL_MECHANISM", "oauthbearer")
	cfg, fs, _, _ = parseConfig(oauthProps("saslTokenUrl", resource.NewNullProperty(), "saslMechanism", resource.NewNullProperty()))
	if len(fs) != 0 || cfg.SASLTokenURL != "http://localhost:1/from-KAFKA_SASL_TOKEN_URL" || strings.Join(cfg.SASLOAuthScopes, " ") != "kafka profile" {
		t.Fatalf("KAFKA_SASL_TOKEN_URL/KAFKA_SASL_OAUTH_SCOPES: %v %+v", fs, cfg)
	}
	cfg, _, _, _ = parseConfig(oauthProps("saslOauthScopes", `["openid"]`))
	if !strings.HasPrefix(cfg.SASLTokenURL, "https://idp.example.com/") || strings.Join(cfg.SASLOAuthScopes, " ") != "openid" {
		t.Fatalf("inputs win over the environment: %+v", cfg)
	}
}

func TestOAuthSettingsWithAnotherMechanismWarn(t *testing.T) {
	clearOAuthEnv(t)
	_, fs, warnings, _ := parseConfig(oauthProps("saslMechanism", "scram-sha512"))
	if len(fs) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], `saslMechanism is "scram-sha512": they are ignored`) {
		t.Fatalf("failures %v warnings %v", fs, warnings)
	}
}

func TestAWSIAMStillRefused(t *testing.T) {
	clearOAuthEnv(t)
	_, fs, _, _ := parseConfig(pm("bootstrapServers", "h:9092", "saslMechanism", "aws-iam", "saslUsername", "u"))
	if len(fs) != 1 || fs[0].Property != "saslMechanism" || !strings.Contains(fs[0].Reason, `"aws-iam" is not supported`) {
		t.Fatalf("aws-iam: %v", fs)
	}
	_, _, warnings, _ := parseConfig(pm("bootstrapServers", "h:9092", "saslAwsRegion", "eu-west-1"))
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"saslAwsRegion" (AWS IAM authentication) is not implemented`) {
		t.Fatalf("saslAws* warning: %v", warnings)
	}
}

func TestConfigureRefusesOAuthBearerWithoutTokenURL(t *testing.T) {
	clearOAuthEnv(t)
	p := newProvider(nil, "test")
	_, err := p.Configure(context.Background(), &pulumirpc.ConfigureRequest{Args: toPB(t, oauthProps("saslTokenUrl", resource.NewNullProperty())), AcceptSecrets: true})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "saslTokenUrl is required") || strings.Contains(err.Error(), testSecret) {
		t.Fatalf("Configure: %v", err)
	}
}

// tokenServer is an OAuth 2.0 token endpoint (client-credentials grant) in the
// shape Keycloak answers: it counts the tokens it issued.
type tokenServer struct {
	*httptest.Server
	issued    atomic.Int32
	expiresIn atomic.Int32
	scope     atomic.Value // the last requested scope
	refuse    atomic.Value // func(w) that answers instead, or nil
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{}
	ts.expiresIn.Store(300)
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if f, _ := ts.refuse.Load().(func(http.ResponseWriter)); f != nil {
			f(w)
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != "k2infra" || secret != testSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`)
			return
		}
		ts.scope.Store(r.PostForm.Get("scope"))
		n := ts.issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, ts.expiresIn.Load())
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) tokens(t *testing.T, kv ...any) *oauthTokens {
	t.Helper()
	cfg, fs, _, _ := parseConfig(oauthProps(append([]any{"saslTokenUrl", ts.URL + "/token"}, kv...)...))
	if len(fs) != 0 {
		t.Fatal(fs)
	}
	return newOAuthTokens(cfg)
}

func mustToken(t *testing.T, o *oauthTokens) string {
	t.Helper()
	tok, err := o.token()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestOAuthTokenFetchedOnceAndCached(t *testing.T) {
	clearOAuthEnv(t)
	ts := newTokenServer(t)
	o := ts.tokens(t, "saslOauthScopes", `["kafka","profile"]`)
	if a, b := mustToken(t, o), mustToken(t, o); a != "tok-1" || b != "tok-1" || ts.issued.Load() != 1 {
		t.Fatalf("tokens %q %q, issued %d", a, b, ts.issued.Load())
	}
	if got := ts.scope.Load(); got != "kafka profile" {
		t.Fatalf("scope sent: %q", got)
	}
	// Connections authenticate concurrently: still one token.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if tok, err := o.token(); err != nil || tok != "tok-1" {
				t.Errorf("concurrent token: %q %v", tok, err)
			}
		})
	}
	wg.Wait()
	if ts.issued.Load() != 1 {
		t.Fatalf("issued %d tokens", ts.issued.Load())
	}
}

func TestOAuthTokenRefreshedBeforeItExpires(t *testing.T) {
	clearOAuthEnv(t)
	ts := newTokenServer(t)
	o := ts.tokens(t)
	// Tokens that expire within tokenEarlyRefresh are not reused...
	ts.expiresIn.Store(int32(tokenEarlyRefresh/time.Second) - 10)
	if a, b := mustToken(t, o), mustToken(t, o); a != "tok-1" || b != "tok-2" {
		t.Fatalf("near-expiry token reused: %q %q", a, b)
	}
	// ...so the next, long-lived one replaces the one about to expire, and is kept.
	ts.expiresIn.Store(3600)
	if a, b := mustToken(t, o), mustToken(t, o); a != "tok-3" || b != "tok-3" || ts.issued.Load() != 3 {
		t.Fatalf("tokens %q %q, issued %d", a, b, ts.issued.Load())
	}
}

func TestOAuthTokenEndpointRefusalIsOneClearLine(t *testing.T) {
	clearOAuthEnv(t)
	ts := newTokenServer(t)
	url := ts.URL + "/token"
	check := func(name string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		msg := err.Error()
		if strings.Contains(msg, testSecret) || strings.Contains(msg, "\n") {
			t.Fatalf("%s: secret or several lines in %q", name, msg)
		}
		for _, w := range append([]string{"SASL OAUTHBEARER: token endpoint " + url}, want...) {
			if !strings.Contains(msg, w) {
				t.Fatalf("%s: %q lacks %q", name, msg, w)
			}
		}
	}

	_, err := ts.tokens(t, "saslPassword", resource.MakeSecret(resource.NewProperty("wrong-"+testSecret))).token()
	check("bad secret", err, `refused client "k2infra": invalid_client (Invalid client or Invalid client credentials), HTTP 401 Unauthorized`)

	ts.refuse.Store(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unauthorized_client","error_description":"Client is disabled"}`)
	})
	_, err = ts.tokens(t).token()
	check("disabled client", err, `refused client "k2infra": unauthorized_client (Client is disabled), HTTP 400 Bad Request`)

	ts.refuse.Store(func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html>\n<body>upstream said: client_secret="+testSecret+"</body>\n</html>\n")
	})
	_, err = ts.tokens(t).token()
	check("not RFC 6749", err, `refused client "k2infra": HTTP 502 Bad Gateway: <html> <body>upstream said: client_secret=***</body> </html>`)
	if ts.issued.Load() != 0 {
		t.Fatalf("issued %d tokens", ts.issued.Load())
	}

	ts.Close()
	_, err = ts.tokens(t).token()
	check("unreachable", err, "could not be reached: ")
}

func TestOAuthBearerMechanismSendsTheToken(t *testing.T) {
	clearOAuthEnv(t)
	ts := newTokenServer(t)
	m := ts.tokens(t).mechanism()
	_, first, err := m.Authenticate(context.Background(), "broker:9092")
	if err != nil || m.Name() != "OAUTHBEARER" {
		t.Fatal(m.Name(), err)
	}
	if want := "n,,\x01auth=Bearer tok-1\x01\x01"; string(first) != want {
		t.Fatalf("initial response %q, want %q", first, want)
	}
	ts.refuse.Store(func(w http.ResponseWriter) { http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized) })
	if _, _, err = ts.tokens(t).mechanism().Authenticate(context.Background(), "broker:9092"); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("refused token: %v", err)
	}
}

// kfake's brokers speak PLAIN and SCRAM only: they refuse the OAUTHBEARER
// handshake before any token is sent, so this checks that the client asks for
// OAUTHBEARER; the token exchange itself needs a real broker.
func TestOAuthBearerClientAsksForOAUTHBEARER(t *testing.T) {
	clearOAuthEnv(t)
	ts := newTokenServer(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg, fs, _, _ := parseConfig(oauthProps("bootstrapServers", c.ListenAddrs()[0], "saslTokenUrl", ts.URL+"/token", "timeout", "5"))
	if len(fs) != 0 {
		t.Fatal(fs)
	}
	k, err := newKafkaClient(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	_, err = k.metadata(context.Background())
	if !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Fatalf("metadata through kfake: %v", err)
	}
}
