package main

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/types/known/structpb"
)

func urnOf(typ, name string) string { return "urn:pulumi:s::p::" + typ + "::" + name }

func pm(kv ...any) resource.PropertyMap {
	m := resource.PropertyMap{}
	for i := 0; i < len(kv); i += 2 {
		var v resource.PropertyValue
		switch x := kv[i+1].(type) {
		case resource.PropertyValue:
			v = x
		case resource.PropertyMap:
			v = resource.NewProperty(x)
		case string:
			v = resource.NewProperty(x)
		case float64:
			v = resource.NewProperty(x)
		case int:
			v = resource.NewProperty(float64(x))
		default:
			panic("pm: unsupported value")
		}
		m[resource.PropertyKey(kv[i].(string))] = v
	}
	return m
}

func toPB(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(m, plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fromPB(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func aclInputs() resource.PropertyMap {
	return pm("aclHost", "*", "aclOperation", "Write", "aclPermissionType", "Allow",
		"aclPrincipal", "User:producer", "aclResourceName", "orders", "aclResourceType", "Topic")
}

func TestACLCheckDiffAndID(t *testing.T) {
	h := aclHandler{}
	out, fs := h.check(nil, nil, aclInputs())
	if len(fs) != 0 {
		t.Fatal(fs)
	}
	if out["resourcePatternTypeFilter"].StringValue() != "Literal" {
		t.Fatalf("default pattern not filled in: %v", out)
	}
	bad := aclInputs()
	bad["aclOperation"] = resource.NewProperty("write") // upstream's names are case-sensitive
	bad["aclPrincipal"] = resource.NewProperty("producer")
	delete(bad, "aclHost")
	_, fs = h.check(nil, nil, bad)
	if len(fs) != 1 || fs[0].Property != "aclHost" {
		t.Fatalf("missing aclHost: %v", fs)
	}
	bad["aclHost"] = resource.NewProperty("*")
	_, fs = h.check(nil, nil, bad)
	if len(fs) != 2 {
		t.Fatalf("want operation + principal failures, got %v", fs)
	}
	unk := aclInputs()
	unk["aclResourceName"] = resource.MakeComputed(resource.NewProperty(""))
	out, fs = h.check(nil, nil, unk)
	if len(fs) != 0 || !out["aclResourceName"].IsComputed() {
		t.Fatalf("unknown input: %v %v", fs, out)
	}

	olds, _ := h.check(nil, nil, aclInputs())
	same := h.diff(olds, olds.Copy())
	if same.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("no-op diff: %v", same)
	}
	// A state without the pattern (older upstream state) equals Literal.
	noPattern := olds.Copy()
	delete(noPattern, "resourcePatternTypeFilter")
	if d := h.diff(noPattern, olds); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("absent pattern must equal Literal: %v", d)
	}
	news := olds.Copy()
	news["aclOperation"] = resource.NewProperty("Read")
	d := h.diff(olds, news)
	if len(d.Replaces) != 1 || d.Replaces[0] != "aclOperation" || d.DeleteBeforeReplace ||
		d.DetailedDiff["aclOperation"].GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("operation change must replace: %v", d)
	}

	a, _ := aclFromProps(olds)
	if a.id() != "User:producer|*|Write|Allow|Topic|orders|Literal" {
		t.Fatalf("id %q", a.id())
	}
	back, err := parseACLID(a.id())
	if err != nil || back != a {
		t.Fatalf("parse %v %v", back, err)
	}
	if _, err := parseACLID("User:x|*|Write|Allow|Topic|orders"); err == nil {
		t.Fatal("6 segments accepted")
	}
	if _, err := parseACLID("User:x|*|Fly|Allow|Topic|orders|Literal"); err == nil {
		t.Fatal("bad operation accepted")
	}
}

func TestQuotaCheckDiffAndID(t *testing.T) {
	h := quotaHandler{}
	in := pm("entityType", "client-id", "entityName", "mobile", "config",
		pm("producer_byte_rate", "2500000", "consumer_byte_rate", 5e6))
	out, fs := h.check(nil, nil, in)
	if len(fs) != 0 {
		t.Fatal(fs)
	}
	cfg := out["config"].ObjectValue()
	if cfg["consumer_byte_rate"].StringValue() != "5000000" || cfg["producer_byte_rate"].StringValue() != "2500000" {
		t.Fatalf("config not normalized to strings: %v", cfg)
	}
	_, fs = h.check(nil, nil, pm("entityType", "group", "config", pm("producer_byte_rate", "fast")))
	if len(fs) != 2 {
		t.Fatalf("want entityType and config failures, got %v", fs)
	}

	olds := out
	if d := h.diff(olds, pm("entityType", "client-id", "entityName", "mobile", "config",
		pm("producer_byte_rate", "2.5e6", "consumer_byte_rate", "5000000.0"))); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("numerically equal config must not diff: %v", d)
	}
	d := h.diff(olds, pm("entityType", "client-id", "entityName", "mobile", "config", pm("producer_byte_rate", "1")))
	if len(d.Replaces) != 1 || d.Replaces[0] != "config" || !d.DeleteBeforeReplace {
		t.Fatalf("config change of the same entity: replace, deleting first: %v", d)
	}
	d = h.diff(olds, pm("entityType", "client-id", "entityName", "other", "config", olds["config"]))
	if len(d.Replaces) != 1 || d.Replaces[0] != "entityName" || d.DeleteBeforeReplace {
		t.Fatalf("entity change: replace, create first: %v", d)
	}

	for id, want := range map[string]quotaSpec{
		"client-id:my-client": {Type: "client-id", Name: "my-client"},
		"user:":               {Type: "user"},
		"user:CN=a:b":         {Type: "user", Name: "CN=a:b"},
		"my-client|client-id": {Type: "client-id", Name: "my-client"},
		"|user":               {Type: "user"},
	} {
		got, err := parseQuotaID(id)
		if err != nil || got.Type != want.Type || got.Name != want.Name {
			t.Fatalf("parseQuotaID(%q) = %+v, %v", id, got, err)
		}
	}
	if _, err := parseQuotaID("group:x"); err == nil {
		t.Fatal("bad entity type accepted")
	}
	if (quotaSpec{Type: "user"}).id() != "user:" {
		t.Fatal("default entity id")
	}
}

func TestScramCheckDiff(t *testing.T) {
	h := scramHandler{}
	in := pm("username", "alice", "scramMechanism", "SCRAM-SHA-512", "password", "s3cret") // sent plain on purpose
	out, fs := h.check(nil, nil, in)
	if len(fs) != 0 {
		t.Fatal(fs)
	}
	if !out["password"].IsSecret() {
		t.Fatal("password must come back secret")
	}
	if out["scramIterations"].NumberValue() != 4096 {
		t.Fatalf("default iterations: %v", out["scramIterations"])
	}
	_, fs = h.check(nil, nil, pm("username", "alice", "scramMechanism", "scram-sha-512"))
	if len(fs) != 2 {
		t.Fatalf("want mechanism + missing password failures, got %v", fs)
	}
	_, fs = h.check(nil, nil, pm("username", "alice", "scramMechanism", "SCRAM-SHA-256", "password", "a",
		"passwordWo", resource.MakeSecret(resource.NewProperty("b")), "scramIterations", 100))
	if len(fs) != 2 {
		t.Fatalf("want conflict + iterations failures, got %v", fs)
	}
	for _, f := range fs {
		if strings.Contains(f.Reason, "s3cret") || strings.Contains(f.Reason, `"a"`) || strings.Contains(f.Reason, `"b"`) {
			t.Fatalf("a failure shows a password: %v", f)
		}
	}

	olds := scramOutputs(scramSpec{User: "alice", Mechanism: "SCRAM-SHA-512", Iterations: 4096}, out)
	if d := h.diff(olds, out); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("no-op diff: %v", d)
	}
	news := out.Copy()
	news["password"] = resource.MakeSecret(resource.NewProperty("new"))
	if d := h.diff(olds, news); len(d.Replaces) != 0 || d.DetailedDiff["password"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("password change is an update: %v", d)
	}
	news = out.Copy()
	news["username"] = resource.NewProperty("bob")
	if d := h.diff(olds, news); len(d.Replaces) != 1 || d.Replaces[0] != "username" {
		t.Fatalf("username change replaces: %v", d)
	}
	wo, _ := h.check(nil, nil, pm("username", "alice", "scramMechanism", "SCRAM-SHA-512",
		"passwordWo", resource.MakeSecret(resource.NewProperty("w1")), "passwordWoVersion", "1"))
	woOlds := scramOutputs(scramSpec{User: "alice", Mechanism: "SCRAM-SHA-512", Iterations: 4096}, wo)
	if _, ok := woOlds["passwordWo"]; ok {
		t.Fatal("write-only passwordWo must not be in the outputs")
	}
	wo2 := wo.Copy()
	wo2["passwordWo"] = resource.MakeSecret(resource.NewProperty("w2"))
	if d := h.diff(woOlds, wo2); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("a passwordWo change alone is no change (as upstream): %v", d)
	}
	wo2["passwordWoVersion"] = resource.NewProperty("2")
	if d := h.diff(woOlds, wo2); d.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 {
		t.Fatalf("passwordWoVersion change is an update: %v", d)
	}

	if s, withPW, err := parseScramID("alice|SCRAM-SHA-256|pw"); err != nil || !withPW || s.Password != "pw" || s.id() != "alice|SCRAM-SHA-256" {
		t.Fatalf("legacy import id: %+v %v %v", s, withPW, err)
	}
	if _, _, err := parseScramID("alice|SCRAM-SHA-256|p|w"); err == nil || strings.Contains(err.Error(), "|p|w") {
		t.Fatalf("4 segments: %v (must fail without echoing the password)", err)
	}
}

// fakeProvider is a provider configured against an in-process kfake cluster.
func fakeProvider(t *testing.T, opts ...kfake.Opt) (*kafkaProvider, *kfake.Cluster) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p := newProvider(nil, "test")
	args := toPB(t, pm("bootstrapServers", c.ListenAddrs()[0], "tlsEnabled", "false", "timeout", "20"))
	if _, err := p.Configure(context.Background(), &pulumirpc.ConfigureRequest{Args: args, AcceptSecrets: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.client != nil {
			p.client.Close()
		}
	})
	return p, c
}

// lifecycle runs Check, Create, Read (refresh), Read (import by ID), Delete
// and Read (gone) through the RPC surface.
func lifecycle(t *testing.T, p *kafkaProvider, typ string, inputs resource.PropertyMap, wantID string) resource.PropertyMap {
	t.Helper()
	ctx := context.Background()
	urn := urnOf(typ, "r")
	chk, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: urn, News: toPB(t, inputs)})
	if err != nil || len(chk.Failures) != 0 {
		t.Fatalf("check: %v %v", err, chk.GetFailures())
	}
	cr, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Properties: chk.Inputs})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if cr.Id != wantID {
		t.Fatalf("id %q, want %q", cr.Id, wantID)
	}
	outs := fromPB(t, cr.Properties)
	rd, err := p.Read(ctx, &pulumirpc.ReadRequest{Urn: urn, Id: cr.Id, Properties: cr.Properties, Inputs: chk.Inputs})
	if err != nil || rd.Id != cr.Id {
		t.Fatalf("refresh: %v %q", err, rd.GetId())
	}
	imp, err := p.Read(ctx, &pulumirpc.ReadRequest{Urn: urn, Id: cr.Id})
	if err != nil || imp.Id != cr.Id || imp.Inputs == nil {
		t.Fatalf("import: %v %v", err, imp)
	}
	// The imported inputs, checked again, must not diff against the state.
	chk2, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: urn, News: imp.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	if typ != scramType || len(chk2.Failures) == 0 { // SCRAM import without password fails Check (as upstream)
		df, err := p.Diff(ctx, &pulumirpc.DiffRequest{Urn: urn, Id: cr.Id, Olds: imp.Properties, News: chk2.Inputs})
		if err != nil || df.Changes != pulumirpc.DiffResponse_DIFF_NONE {
			t.Fatalf("imported inputs diff: %v %v", err, df)
		}
	}
	if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: urn, Id: cr.Id, Properties: cr.Properties}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	gone, err := p.Read(ctx, &pulumirpc.ReadRequest{Urn: urn, Id: cr.Id, Properties: cr.Properties})
	if err != nil || gone.Id != "" {
		t.Fatalf("after delete: %v %q", err, gone.GetId())
	}
	if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: urn, Id: cr.Id, Properties: cr.Properties}); err != nil {
		t.Fatalf("deleting what is gone must succeed: %v", err)
	}
	return outs
}

func TestACLLifecycleKfake(t *testing.T) {
	p, _ := fakeProvider(t)
	outs := lifecycle(t, p, aclType, aclInputs(), "User:producer|*|Write|Allow|Topic|orders|Literal")
	if outs["resourcePatternTypeFilter"].StringValue() != "Literal" {
		t.Fatalf("outputs %v", outs)
	}
	// Prefixed, Deny, Group: a different binding, its own ID.
	in := pm("aclHost", "10.0.0.1", "aclOperation", "Read", "aclPermissionType", "Deny",
		"aclPrincipal", "User:c", "aclResourceName", "logs-", "aclResourceType", "Group", "resourcePatternTypeFilter", "Prefixed")
	lifecycle(t, p, aclType, in, "User:c|10.0.0.1|Read|Deny|Group|logs-|Prefixed")
}

func TestQuotaLifecycleKfake(t *testing.T) {
	p, _ := fakeProvider(t)
	lifecycle(t, p, quotaType, pm("entityType", "client-id", "entityName", "mobile",
		"config", pm("producer_byte_rate", "2500000", "consumer_byte_rate", "5000000")), "client-id:mobile")
	lifecycle(t, p, quotaType, pm("entityType", "user", "config", pm("request_percentage", "100")), "user:")
}

func TestScramLifecycleKfake(t *testing.T) {
	p, _ := fakeProvider(t)
	ctx := context.Background()
	outs := lifecycle(t, p, scramType, pm("username", "alice", "scramMechanism", "SCRAM-SHA-256",
		"password", resource.MakeSecret(resource.NewProperty("s3cret")), "scramIterations", 8192), "alice|SCRAM-SHA-256")
	if !outs["password"].IsSecret() || outs["scramIterations"].NumberValue() != 8192 {
		t.Fatalf("outputs %v", outs)
	}

	// Write-only password: created, never in the outputs; update through
	// passwordWoVersion; import with the legacy 3-part ID returns the
	// password as a secret and the 2-part ID.
	urn := urnOf(scramType, "wo")
	chk, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: urn, News: toPB(t, pm("username", "bob", "scramMechanism", "SCRAM-SHA-512",
		"passwordWo", resource.MakeSecret(resource.NewProperty("w1")), "passwordWoVersion", "1"))})
	if err != nil || len(chk.Failures) != 0 {
		t.Fatal(err, chk.GetFailures())
	}
	cr, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Properties: chk.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	if o := fromPB(t, cr.Properties); o["passwordWo"].HasValue() || strings.Contains(cr.Properties.String(), "w1") {
		t.Fatalf("write-only password returned: %v", o)
	}
	news := fromPB(t, chk.Inputs)
	news["passwordWo"] = resource.MakeSecret(resource.NewProperty("w2"))
	news["passwordWoVersion"] = resource.NewProperty("2")
	news["scramIterations"] = resource.NewProperty(5000.0)
	up, err := p.Update(ctx, &pulumirpc.UpdateRequest{Urn: urn, Id: cr.Id, Olds: cr.Properties, News: toPB(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if o := fromPB(t, up.Properties); o["scramIterations"].NumberValue() != 5000 || o["passwordWoVersion"].StringValue() != "2" {
		t.Fatalf("update outputs %v", o)
	}
	imp, err := p.Read(ctx, &pulumirpc.ReadRequest{Urn: urn, Id: "bob|SCRAM-SHA-512|legacy-pw"})
	if err != nil || imp.Id != "bob|SCRAM-SHA-512" {
		t.Fatalf("legacy import: %v %v", err, imp)
	}
	if o := fromPB(t, imp.Properties); !o["password"].IsSecret() || o["scramIterations"].NumberValue() != 5000 {
		t.Fatalf("legacy import outputs %v", o)
	}
	if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: urn, Id: cr.Id, Properties: up.Properties}); err != nil {
		t.Fatal(err)
	}
}

// Kafka's own errors reach the user with the resource named, and never
// with a password.
func TestAccessErrorsKfake(t *testing.T) {
	p, _ := fakeProvider(t)
	ctx := context.Background()
	urn := urnOf(scramType, "x")
	// 16384 < iterations is refused by Check; the broker refuses an empty user.
	props := toPB(t, pm("username", "", "scramMechanism", "SCRAM-SHA-256", "password", resource.MakeSecret(resource.NewProperty("topsecret")), "scramIterations", 4096))
	if _, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Properties: props}); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("create with empty user: %v", err)
	}
	// Unknown types still fail clearly.
	if _, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: urnOf("kafka:index/nope:Nope", "x"), News: props}); err == nil {
		t.Fatal("unknown type accepted")
	}
}
