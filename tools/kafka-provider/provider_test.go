package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestParseConfigJSONEncodedAndTyped(t *testing.T) {
	// As the Python SDK sends them: everything non-string JSON-encoded.
	enc := resource.PropertyMap{
		"bootstrapServers": resource.NewProperty(`["127.0.0.1:9092","b:9093"]`),
		"tlsEnabled":       resource.NewProperty("false"),
		"skipTlsVerify":    resource.NewProperty("false"),
		"saslMechanism":    resource.NewProperty("plain"),
		"timeout":          resource.NewProperty("30"),
		"kafkaVersion":     resource.NewProperty("3.9.2"),
		"version":          resource.NewProperty("3.13.3"),
	}
	cfg, failures, warnings, unknown := parseConfig(enc)
	if len(failures) != 0 || unknown {
		t.Fatalf("failures=%v unknown=%v", failures, unknown)
	}
	if strings.Join(cfg.BootstrapServers, ",") != "127.0.0.1:9092,b:9093" || cfg.TLSEnabled || cfg.Timeout != 30*time.Second {
		t.Fatalf("bad cfg %+v", cfg)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "kafkaVersion") {
		t.Fatalf("warnings %v", warnings)
	}

	typed := resource.PropertyMap{
		"bootstrapServers": resource.NewProperty([]resource.PropertyValue{resource.NewProperty("h:1")}),
		"tlsEnabled":       resource.NewProperty(false),
		"timeout":          resource.NewProperty(5.0),
		"saslUsername":     resource.NewProperty("u"),
		"saslPassword":     resource.MakeSecret(resource.NewProperty("p")),
		"saslMechanism":    resource.NewProperty("SCRAM-SHA512"),
		"bogus":            resource.NewProperty("x"),
	}
	cfg, failures, warnings, _ = parseConfig(typed)
	if len(failures) != 0 {
		t.Fatalf("failures %v", failures)
	}
	if cfg.SASLPassword != "p" || cfg.SASLMechanism != "scram-sha512" || cfg.Timeout != 5*time.Second {
		t.Fatalf("bad cfg %+v", cfg)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"bogus"`) {
		t.Fatalf("warnings %v", warnings)
	}
}

func TestParseConfigDefaultsAndFailures(t *testing.T) {
	cfg, failures, _, _ := parseConfig(resource.PropertyMap{"bootstrapServers": resource.NewProperty("h:9092")})
	if len(failures) != 0 || !cfg.TLSEnabled || cfg.Timeout != defaultTimeout || cfg.SASLMechanism != "plain" {
		t.Fatalf("defaults: %+v %v", cfg, failures)
	}
	_, failures, _, _ = parseConfig(resource.PropertyMap{})
	if len(failures) != 1 || failures[0].Property != "bootstrapServers" {
		t.Fatalf("missing bootstrapServers: %v", failures)
	}
	_, failures, _, _ = parseConfig(resource.PropertyMap{
		"bootstrapServers": resource.NewProperty("nohost"),
		"timeout":          resource.NewProperty("0"),
		"saslMechanism":    resource.NewProperty("gssapi"),
		"tlsEnabled":       resource.NewProperty("maybe"),
	})
	if len(failures) != 4 {
		t.Fatalf("want 4 failures, got %v", failures)
	}
	_, failures, _, unknown := parseConfig(resource.PropertyMap{
		"bootstrapServers": resource.MakeComputed(resource.NewProperty("")),
	})
	if len(failures) != 0 || !unknown {
		t.Fatalf("unknown bootstrapServers: %v %v", failures, unknown)
	}
}

func checkReq(name string) *pulumirpc.CheckRequest {
	return &pulumirpc.CheckRequest{Urn: "urn:pulumi:s::p::" + topicType + "::" + name, Name: name, RandomSeed: []byte("seed")}
}

func TestCheckTopic(t *testing.T) {
	news := resource.PropertyMap{
		"name":              resource.NewProperty("t.1"),
		"partitions":        resource.NewProperty("3"),
		"replicationFactor": resource.NewProperty(1.0),
		"config": resource.NewProperty(resource.PropertyMap{
			"retention.ms":                   resource.NewProperty(604800000.0),
			"unclean.leader.election.enable": resource.NewProperty(false),
			"sasl.thing":                     resource.MakeSecret(resource.NewProperty("s")),
			"later":                          resource.MakeComputed(resource.NewProperty("")),
		}),
	}
	out, failures := checkTopic(checkReq("a"), nil, news)
	if len(failures) != 0 {
		t.Fatal(failures)
	}
	if out["partitions"].NumberValue() != 3 {
		t.Fatalf("partitions %v", out["partitions"])
	}
	cfg := out["config"].ObjectValue()
	if cfg["retention.ms"].StringValue() != "604800000" || cfg["unclean.leader.election.enable"].StringValue() != "false" {
		t.Fatalf("config %v", cfg)
	}
	if !cfg["sasl.thing"].IsSecret() || !cfg["later"].IsComputed() {
		t.Fatalf("secret/unknown lost: %v", cfg)
	}

	// autoname, stable for the seed; reused from olds.
	auto, failures := checkTopic(checkReq("b"), nil, resource.PropertyMap{
		"partitions": resource.NewProperty(1.0), "replicationFactor": resource.NewProperty(1.0),
	})
	if len(failures) != 0 || !strings.HasPrefix(auto["name"].StringValue(), "b-") || len(auto["name"].StringValue()) != 9 {
		t.Fatalf("autoname %v %v", auto["name"], failures)
	}
	again, _ := checkTopic(&pulumirpc.CheckRequest{Urn: checkReq("b").Urn, Name: "b", RandomSeed: []byte("other")},
		resource.PropertyMap{"name": auto["name"]}, resource.PropertyMap{
			"partitions": resource.NewProperty(1.0), "replicationFactor": resource.NewProperty(1.0),
		})
	if again["name"].StringValue() != auto["name"].StringValue() {
		t.Fatalf("old name not kept: %v", again["name"])
	}

	_, failures = checkTopic(checkReq("c"), nil, resource.PropertyMap{
		"name": resource.NewProperty("bad name"), "partitions": resource.NewProperty(0.0),
		"replicationFactor": resource.NewProperty(1.5),
	})
	if len(failures) != 3 {
		t.Fatalf("want 3 failures, got %v", failures)
	}
}

func spec(name string, parts, rf float64, cfg map[string]string) resource.PropertyMap {
	m := resource.PropertyMap{}
	for k, v := range cfg {
		m[resource.PropertyKey(k)] = resource.NewProperty(v)
	}
	return resource.PropertyMap{
		"name": resource.NewProperty(name), "partitions": resource.NewProperty(parts),
		"replicationFactor": resource.NewProperty(rf), "config": resource.NewProperty(m),
	}
}

func TestDiffTopic(t *testing.T) {
	old := spec("t", 3, 2, map[string]string{"retention.ms": "1", "segment.ms": "2"})
	same := diffTopic(old, spec("t", 3, 2, map[string]string{"retention.ms": "1", "segment.ms": "2"}))
	if same.resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("no-op diff: %v", same.resp)
	}
	up := diffTopic(old, spec("t", 6, 2, map[string]string{"retention.ms": "9", "cleanup.policy": "compact"}))
	r := up.resp
	if r.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(r.Replaces) != 0 {
		t.Fatalf("update diff: %v", r)
	}
	if r.DetailedDiff[`config["segment.ms"]`].GetKind() != pulumirpc.PropertyDiff_DELETE ||
		r.DetailedDiff[`config["cleanup.policy"]`].GetKind() != pulumirpc.PropertyDiff_ADD ||
		r.DetailedDiff[`config["retention.ms"]`].GetKind() != pulumirpc.PropertyDiff_UPDATE ||
		r.DetailedDiff["partitions"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("detailed diff: %v", r.DetailedDiff)
	}
	shrink := diffTopic(old, spec("t", 2, 2, map[string]string{"retention.ms": "1", "segment.ms": "2"}))
	if !shrink.partitionShrink || !shrink.resp.DeleteBeforeReplace || len(shrink.resp.Replaces) != 1 {
		t.Fatalf("shrink diff: %v", shrink.resp)
	}
	rename := diffTopic(old, spec("u", 3, 2, map[string]string{"retention.ms": "1", "segment.ms": "2"}))
	if len(rename.resp.Replaces) != 1 || rename.resp.DeleteBeforeReplace {
		t.Fatalf("rename diff: %v", rename.resp)
	}
	rf := diffTopic(old, spec("t", 3, 3, map[string]string{"retention.ms": "1", "segment.ms": "2"}))
	if !rf.rfChange || len(rf.resp.Replaces) != 0 || rf.resp.Changes != pulumirpc.DiffResponse_DIFF_SOME {
		t.Fatalf("rf diff must be an update, not a replace: %v", rf.resp)
	}
	unk := spec("t", 3, 2, nil)
	unk["partitions"] = resource.MakeComputed(resource.NewProperty(""))
	unk["config"] = resource.MakeComputed(resource.NewProperty(""))
	u := diffTopic(old, unk)
	if len(u.resp.Replaces) != 0 || u.resp.DetailedDiff["partitions"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("unknown diff: %v", u.resp)
	}
}

// Secrets survive a Check round trip through the wire format.
func TestCheckRPCKeepsSecrets(t *testing.T) {
	p := newProvider(nil, "test")
	news, err := plugin.MarshalProperties(resource.PropertyMap{
		"name": resource.NewProperty("t"), "partitions": resource.NewProperty(1.0),
		"replicationFactor": resource.NewProperty(1.0),
		"config":            resource.MakeSecret(resource.NewProperty(resource.PropertyMap{"retention.ms": resource.NewProperty("5")})),
	}, plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: checkReq("t").Urn, News: news})
	if err != nil || len(resp.Failures) != 0 {
		t.Fatal(err, resp.GetFailures())
	}
	back, err := plugin.UnmarshalProperties(resp.Inputs, plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true})
	if err != nil {
		t.Fatal(err)
	}
	if !back["config"].IsSecret() {
		t.Fatalf("config lost its secretness: %v", back["config"])
	}
	if _, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: "urn:pulumi:s::p::kafka:index/nope:Nope::x", News: news}); err == nil {
		t.Fatal("unsupported type accepted")
	}
	if _, err := schemaJSON("1.0.0"); err != nil {
		t.Fatal(err)
	}
}
