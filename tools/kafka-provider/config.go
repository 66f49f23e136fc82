package main

// Provider configuration: the inputs of `pulumi_kafka.Provider(...)` (or the
// `kafka:*` stack config of the default provider).

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

const defaultTimeout = 120 * time.Second

type providerConfig struct {
	BootstrapServers []string
	TLSEnabled       bool
	SkipTLSVerify    bool
	CACert           string // PEM
	ClientCert       string // PEM
	ClientKey        string // PEM
	ClientKeyPass    string
	SASLMechanism    string // plain | scram-sha256 | scram-sha512 (only used with SASLUsername) | oauthbearer
	SASLUsername     string // with oauthbearer: the OAuth client id
	SASLPassword     string // with oauthbearer: the OAuth client secret
	SASLTokenURL     string // oauthbearer: the token endpoint of the client-credentials grant
	SASLOAuthScopes  []string
	Timeout          time.Duration
	KafkaVersion     string // accepted, not used: franz-go negotiates API versions
}

// servers is the bootstrap list as it appears in error messages.
func (c *providerConfig) servers() string {
	if c == nil || len(c.BootstrapServers) == 0 {
		return "<no bootstrap servers>"
	}
	return strings.Join(c.BootstrapServers, ",")
}

type configFailure struct{ Property, Reason string }

// The keys of the upstream pulumi-kafka 3.13.3 provider schema that this
// provider reads.
var supportedConfigKeys = map[string]bool{
	"bootstrapServers": true, "tlsEnabled": true, "skipTlsVerify": true,
	"caCert": true, "caCertFile": true, "clientCert": true, "clientCertFile": true,
	"clientKey": true, "clientKeyFile": true, "clientKeyPassphrase": true,
	"saslMechanism": true, "saslUsername": true, "saslPassword": true,
	"saslTokenUrl": true, "saslOauthScopes": true,
	"timeout": true, "kafkaVersion": true,
}

// Upstream keys for the authentication method this provider does not
// implement (AWS MSK IAM).
var unsupportedUpstreamKeys = map[string]bool{
	"saslAwsAccessKey": true, "saslAwsContainerAuthorizationTokenFile": true,
	"saslAwsContainerCredentialsFullUri": true, "saslAwsCredsDebug": true,
	"saslAwsExternalId": true, "saslAwsProfile": true, "saslAwsRegion": true,
	"saslAwsRoleArn": true, "saslAwsSecretKey": true, "saslAwsSharedConfigFiles": true,
	"saslAwsToken": true,
}

// Keys the engine/SDK itself puts into provider inputs.
func isEngineKey(k string) bool {
	return k == "version" || k == "pluginDownloadURL" || strings.HasPrefix(k, "__")
}

// parseConfig reads and validates provider inputs. Values that are unknown
// (preview) are skipped; `unknown` reports whether any value we need is.
// It never fails outright: problems come back as failures, oddities as warnings.
func parseConfig(props resource.PropertyMap) (cfg *providerConfig, failures []configFailure, warnings []string, unknown bool) {
	cfg = &providerConfig{TLSEnabled: true, SASLMechanism: "plain", Timeout: defaultTimeout}
	fail := func(prop, format string, args ...any) {
		failures = append(failures, configFailure{prop, fmt.Sprintf(format, args...)})
	}
	get := func(key string) (resource.PropertyValue, bool) {
		v, ok := props[resource.PropertyKey(key)]
		if !ok || isAbsent(v) {
			return resource.PropertyValue{}, false
		}
		if _, _, unk := unwrap(v); unk {
			unknown = true
			return resource.PropertyValue{}, false
		}
		return v, true
	}
	// isComputed: the key holds a value not known yet (preview), so its absence is no failure.
	isComputed := func(key string) bool {
		v, ok := props[resource.PropertyKey(key)]
		if !ok {
			return false
		}
		_, _, unk := unwrap(v)
		return unk
	}
	str := func(key string) string {
		v, ok := get(key)
		if !ok {
			return ""
		}
		s, err := valueString(v)
		if err != nil {
			fail(key, "%s: %v", key, err)
		}
		return s
	}

	// strList: a list of strings (typed, JSON-encoded or comma-separated); ok when the key is set.
	strList := func(key string) ([]string, bool) {
		v, ok := get(key)
		if !ok {
			return nil, false
		}
		list, err := valueStringList(v)
		if err != nil {
			fail(key, "%s: %v", key, err)
		}
		return list, true
	}

	// Env defaults of the upstream schema (applied when the key is absent).
	if s := os.Getenv("KAFKA_ENABLE_TLS"); s != "" {
		if b, err := valueBool(resource.NewProperty(s)); err == nil {
			cfg.TLSEnabled = b
		}
	}
	if s := os.Getenv("KAFKA_SKIP_VERIFY"); s != "" {
		if b, err := valueBool(resource.NewProperty(s)); err == nil {
			cfg.SkipTLSVerify = b
		}
	}
	if s := os.Getenv("KAFKA_SASL_MECHANISM"); s != "" {
		cfg.SASLMechanism = s
	}
	// Upstream's token URL: sasl_token_url (env default KAFKA_SASL_TOKEN_URL in the
	// Terraform schema), then TOKEN_URL (read by its Kafka client setup). Scopes:
	// KAFKA_SASL_OAUTH_SCOPES, comma-separated (see README, "oauthbearer").
	cfg.SASLTokenURL = os.Getenv("KAFKA_SASL_TOKEN_URL")
	if cfg.SASLTokenURL == "" {
		cfg.SASLTokenURL = os.Getenv("TOKEN_URL")
	}
	if s := os.Getenv("KAFKA_SASL_OAUTH_SCOPES"); s != "" {
		cfg.SASLOAuthScopes, _ = valueStringList(resource.NewProperty(s))
	}

	cfg.BootstrapServers, _ = strList("bootstrapServers")
	if len(cfg.BootstrapServers) == 0 && !unknown && len(failures) == 0 {
		fail("bootstrapServers", "bootstrapServers is required: a list of host:port addresses of Kafka brokers")
	}
	for _, s := range cfg.BootstrapServers {
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			fail("bootstrapServers", "bootstrapServers: %q is not a host:port address", s)
		}
	}
	if v, ok := get("tlsEnabled"); ok {
		b, err := valueBool(v)
		if err != nil {
			fail("tlsEnabled", "tlsEnabled: %v", err)
		}
		cfg.TLSEnabled = b
	}
	if v, ok := get("skipTlsVerify"); ok {
		b, err := valueBool(v)
		if err != nil {
			fail("skipTlsVerify", "skipTlsVerify: %v", err)
		}
		cfg.SkipTLSVerify = b
	}
	if v, ok := get("timeout"); ok {
		n, err := valueInt(v)
		switch {
		case err != nil:
			fail("timeout", "timeout: %v", err)
		case n < 1:
			fail("timeout", "timeout must be at least 1 (seconds), got %d", n)
		default:
			cfg.Timeout = time.Duration(n) * time.Second
		}
	}
	if s := str("saslMechanism"); s != "" {
		cfg.SASLMechanism = s
	}
	cfg.SASLMechanism = strings.ToLower(strings.TrimSpace(cfg.SASLMechanism))
	cfg.SASLUsername = str("saslUsername")
	cfg.SASLPassword = str("saslPassword")
	cfg.KafkaVersion = str("kafkaVersion")
	cfg.ClientKeyPass = str("clientKeyPassphrase")
	if s := str("saslTokenUrl"); s != "" {
		cfg.SASLTokenURL = s
	}
	if list, ok := strList("saslOauthScopes"); ok {
		cfg.SASLOAuthScopes = list
	}

	switch cfg.SASLMechanism {
	case "plain", "scram-sha256", "scram-sha512":
		if cfg.SASLTokenURL != "" || len(cfg.SASLOAuthScopes) > 0 {
			warnings = append(warnings, fmt.Sprintf("saslTokenUrl/saslOauthScopes are set but saslMechanism is %q: they are ignored", cfg.SASLMechanism))
		}
	case "oauthbearer":
		checkOAuthConfig(cfg, isComputed, fail)
	case "aws-iam":
		if cfg.SASLUsername != "" {
			fail("saslMechanism", "saslMechanism %q is not supported by the k2infra Kafka provider (supported: plain, scram-sha256, scram-sha512, oauthbearer)", cfg.SASLMechanism)
		}
	default:
		fail("saslMechanism", "saslMechanism %q is not one of plain, scram-sha256, scram-sha512, oauthbearer", cfg.SASLMechanism)
	}

	// PEM material: the value itself, or (deprecated upstream *File keys, and
	// for convenience a value that is an existing path) a file to read.
	pemValue := func(key, fileKey string) string {
		s := str(key)
		if s == "" && fileKey != "" {
			if path := str(fileKey); path != "" {
				b, err := os.ReadFile(path)
				if err != nil {
					fail(fileKey, "%s: %v", fileKey, err)
					return ""
				}
				return string(b)
			}
		}
		if s != "" && !strings.Contains(s, "-----BEGIN") {
			if b, err := os.ReadFile(s); err == nil {
				return string(b)
			}
			fail(key, "%s is neither PEM text nor a readable file", key)
			return ""
		}
		return s
	}
	cfg.CACert = pemValue("caCert", "caCertFile")
	cfg.ClientCert = pemValue("clientCert", "clientCertFile")
	cfg.ClientKey = pemValue("clientKey", "clientKeyFile")
	if cfg.CACert != "" {
		if ok := x509.NewCertPool().AppendCertsFromPEM([]byte(cfg.CACert)); !ok {
			fail("caCert", "caCert holds no valid PEM certificate")
		}
	}
	if (cfg.ClientCert == "") != (cfg.ClientKey == "") {
		fail("clientCert", "clientCert and clientKey must be given together")
	} else if cfg.ClientCert != "" {
		if _, err := cfg.clientKeyPair(); err != nil {
			fail("clientKey", "clientCert/clientKey: %v", err)
		}
	}
	if (cfg.CACert != "" || cfg.ClientCert != "" || cfg.SkipTLSVerify) && !cfg.TLSEnabled {
		warnings = append(warnings, "caCert/clientCert/skipTlsVerify are set but tlsEnabled is false: they are ignored")
	}
	if cfg.KafkaVersion != "" {
		warnings = append(warnings, fmt.Sprintf("kafkaVersion %q is ignored: this provider negotiates protocol versions with the broker", cfg.KafkaVersion))
	}

	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case supportedConfigKeys[k] || isEngineKey(k):
		case unsupportedUpstreamKeys[k]:
			v := props[resource.PropertyKey(k)]
			if isAbsent(v) {
				continue
			}
			if s, err := valueString(v); err == nil && (s == "" || s == "false" || s == "[]") {
				continue
			}
			warnings = append(warnings, fmt.Sprintf("provider setting %q (AWS IAM authentication) is not implemented by the k2infra Kafka provider and is ignored", k))
		default:
			warnings = append(warnings, fmt.Sprintf("unknown provider setting %q is ignored", k))
		}
	}
	return cfg, failures, warnings, unknown
}

func (c *providerConfig) clientKeyPair() (tls.Certificate, error) {
	keyPEM := []byte(c.ClientKey)
	if c.ClientKeyPass != "" {
		block, _ := pem.Decode(keyPEM)
		if block == nil {
			return tls.Certificate{}, errors.New("clientKey is not PEM")
		}
		//nolint:staticcheck // legacy encrypted PEM is what a key passphrase implies.
		if x509.IsEncryptedPEMBlock(block) {
			der, err := x509.DecryptPEMBlock(block, []byte(c.ClientKeyPass)) //nolint:staticcheck
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("decrypting clientKey: %w", err)
			}
			keyPEM = pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der})
		}
	}
	return tls.X509KeyPair([]byte(c.ClientCert), keyPEM)
}

// tlsConfig builds the client TLS settings (nil when TLS is off).
func (c *providerConfig) tlsConfig() (*tls.Config, error) {
	if !c.TLSEnabled {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.SkipTLSVerify} //nolint:gosec // user's explicit choice
	if c.CACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CACert)) {
			return nil, errors.New("caCert holds no valid PEM certificate")
		}
		t.RootCAs = pool
	}
	if c.ClientCert != "" {
		pair, err := c.clientKeyPair()
		if err != nil {
			return nil, err
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}
