package main

// The pulumirpc.ResourceProviderServer: the engine-facing side.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

type kafkaProvider struct {
	pulumirpc.UnimplementedResourceProviderServer

	host    *provider.HostClient // nil when attached for debugging
	version string

	mu            sync.Mutex
	cfg           *providerConfig
	cfgUnknown    bool
	client        *kafkaClient
	acceptSecrets bool
}

func newProvider(host *provider.HostClient, version string) *kafkaProvider {
	return &kafkaProvider{host: host, version: version, acceptSecrets: true}
}

// guard turns a panic into an error for the engine (no provider crashes).
func guard(method string, err *error) {
	if r := recover(); r != nil {
		*err = status.Errorf(codes.Internal, "kafka provider: internal error in %s: %v\n%s", method, r, debug.Stack())
	}
}

func (p *kafkaProvider) log(ctx context.Context, sev diag.Severity, urn string, msg string) {
	if p.host != nil {
		if err := p.host.Log(ctx, sev, resource.URN(urn), msg); err == nil {
			return
		}
	}
	fmt.Fprintf(os.Stderr, "[kafka provider] %s: %s\n", sev, msg)
}

func (p *kafkaProvider) unmarshal(s *structpb.Struct, label string, keepSecrets bool) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label: label, KeepUnknowns: true, KeepSecrets: keepSecrets, SkipNulls: true,
	})
}

func (p *kafkaProvider) marshal(m resource.PropertyMap, label string) (*structpb.Struct, error) {
	p.mu.Lock()
	keep := p.acceptSecrets
	p.mu.Unlock()
	return plugin.MarshalProperties(m, plugin.MarshalOptions{Label: label, KeepUnknowns: true, KeepSecrets: keep})
}

// kafka returns the configured client (created on first use).
func (p *kafkaProvider) kafka() (*kafkaClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.cfgUnknown:
		return nil, errors.New("kafka provider: its configuration is not known yet (it depends on values computed during this update)")
	case p.cfg == nil:
		return nil, errors.New("kafka provider: not configured (no bootstrapServers)")
	case p.client == nil:
		c, err := newKafkaClient(p.cfg, p.version)
		if err != nil {
			return nil, err
		}
		p.client = c
	}
	return p.client, nil
}

// opContext bounds one operation: the resource's custom timeout when set,
// else the provider's `timeout`.
func (p *kafkaProvider) opContext(ctx context.Context, seconds float64) (context.Context, context.CancelFunc) {
	d := defaultTimeout
	p.mu.Lock()
	if p.cfg != nil {
		d = p.cfg.Timeout
	}
	p.mu.Unlock()
	if seconds > 0 {
		d = time.Duration(seconds * float64(time.Second))
	}
	return context.WithTimeout(ctx, d)
}

// checkType: the handler for the URN's type (nil for Topic).
func checkType(urn string) (resourceHandler, error) {
	h, _, err := handlerFor(urn)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return h, nil
}

// initFailed reports a resource that Kafka accepted but that did not settle:
// the engine records it (with the error), so the next run does not recreate it.
func (p *kafkaProvider) initFailed(id string, props resource.PropertyMap, err error) error {
	pb, merr := p.marshal(props, "partial")
	if merr != nil {
		return err
	}
	st, serr := status.New(codes.Unknown, err.Error()).WithDetails(&pulumirpc.ErrorResourceInitFailed{
		Id: id, Properties: pb, Reasons: []string{err.Error()},
	})
	if serr != nil {
		return err
	}
	return st.Err()
}

func failuresPB(fs []configFailure) []*pulumirpc.CheckFailure {
	out := make([]*pulumirpc.CheckFailure, 0, len(fs))
	for _, f := range fs {
		out = append(out, &pulumirpc.CheckFailure{Property: f.Property, Reason: f.Reason})
	}
	return out
}

// --- plugin metadata -----------------------------------------------------------

func (p *kafkaProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.version}, nil
}

func (p *kafkaProvider) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if req.GetSubpackageName() != "" {
		return nil, status.Errorf(codes.NotFound, "kafka provider: no subpackage %q", req.GetSubpackageName())
	}
	s, err := schemaJSON(p.version)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "kafka provider: building schema: %v", err)
	}
	return &pulumirpc.GetSchemaResponse{Schema: s}, nil
}

func (p *kafkaProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// No Terraform mappings: `pulumi convert` from HCL is not supported.
func (p *kafkaProvider) GetMapping(context.Context, *pulumirpc.GetMappingRequest) (*pulumirpc.GetMappingResponse, error) {
	return &pulumirpc.GetMappingResponse{}, nil
}

func (p *kafkaProvider) GetMappings(context.Context, *pulumirpc.GetMappingsRequest) (*pulumirpc.GetMappingsResponse, error) {
	return &pulumirpc.GetMappingsResponse{}, nil
}

// --- provider configuration -----------------------------------------------------

func (p *kafkaProvider) CheckConfig(ctx context.Context, req *pulumirpc.CheckRequest) (resp *pulumirpc.CheckResponse, err error) {
	defer guard("CheckConfig", &err)
	news, err := p.unmarshal(req.GetNews(), "CheckConfig.news", true)
	if err != nil {
		return nil, err
	}
	_, failures, warnings, _ := parseConfig(news)
	for _, w := range warnings {
		p.log(ctx, diag.Warning, req.GetUrn(), w)
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failuresPB(failures)}, nil
}

func (p *kafkaProvider) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (resp *pulumirpc.DiffResponse, err error) {
	defer guard("DiffConfig", &err)
	oldStruct := req.GetOldInputs()
	if oldStruct == nil {
		oldStruct = req.GetOlds()
	}
	olds, err := p.unmarshal(oldStruct, "DiffConfig.olds", false)
	if err != nil {
		return nil, err
	}
	news, err := p.unmarshal(req.GetNews(), "DiffConfig.news", false)
	if err != nil {
		return nil, err
	}
	changed := map[string]bool{}
	for k, nv := range news {
		if ov, ok := olds[k]; !ok || !ov.DeepEquals(nv) || nv.ContainsUnknowns() {
			if !(isAbsent(nv) && !ok) {
				changed[string(k)] = true
			}
		}
	}
	for k, ov := range olds {
		if _, ok := news[k]; !ok && !isAbsent(ov) {
			changed[string(k)] = true
		}
	}
	resp = &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}
	for k := range changed {
		resp.Diffs = append(resp.Diffs, k)
	}
	sort.Strings(resp.Diffs)
	if len(resp.Diffs) > 0 {
		// Never a replacement: the provider just talks to other brokers.
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return resp, nil
}

// configFromVariables reads `kafka:config:key` / `kafka:key` stack config
// (engines that do not send Args).
func configFromVariables(vars map[string]string) resource.PropertyMap {
	m := resource.PropertyMap{}
	for k, v := range vars {
		key := strings.TrimPrefix(strings.TrimPrefix(k, "kafka:config:"), "kafka:")
		m[resource.PropertyKey(key)] = resource.NewProperty(v)
	}
	return m
}

func (p *kafkaProvider) Configure(ctx context.Context, req *pulumirpc.ConfigureRequest) (resp *pulumirpc.ConfigureResponse, err error) {
	defer guard("Configure", &err)
	var props resource.PropertyMap
	if req.GetArgs() != nil {
		if props, err = p.unmarshal(req.GetArgs(), "Configure.args", false); err != nil {
			return nil, err
		}
	} else {
		props = configFromVariables(req.GetVariables())
	}
	cfg, failures, _, unknown := parseConfig(props)
	if len(failures) > 0 && !unknown {
		msgs := make([]string, 0, len(failures))
		for _, f := range failures {
			msgs = append(msgs, f.Reason)
		}
		return nil, status.Errorf(codes.InvalidArgument, "kafka provider (%s): invalid configuration: %s", cfg.servers(), strings.Join(msgs, "; "))
	}
	p.mu.Lock()
	if p.client != nil {
		p.client.Close()
		p.client = nil
	}
	p.cfg, p.cfgUnknown = cfg, unknown
	p.acceptSecrets = req.GetAcceptSecrets()
	p.mu.Unlock()
	return &pulumirpc.ConfigureResponse{
		AcceptSecrets:                   true,
		SupportsPreview:                 false, // Create/Update are never called in preview
		AcceptResources:                 false,
		AcceptOutputs:                   false,
		SupportsAutonamingConfiguration: true,
	}, nil
}

// --- the Topic resource ------------------------------------------------------------

func (p *kafkaProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (resp *pulumirpc.CheckResponse, err error) {
	defer guard("Check", &err)
	h, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := p.unmarshal(req.GetOlds(), "Check.olds", true)
	if err != nil {
		return nil, err
	}
	news, err := p.unmarshal(req.GetNews(), "Check.news", true)
	if err != nil {
		return nil, err
	}
	var inputs resource.PropertyMap
	var failures []configFailure
	if h != nil {
		inputs, failures = h.check(req, olds, news)
	} else {
		inputs, failures = checkTopic(req, olds, news)
	}
	out, err := p.marshal(inputs, "Check.inputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: out, Failures: failuresPB(failures)}, nil
}

func (p *kafkaProvider) Diff(ctx context.Context, req *pulumirpc.DiffRequest) (resp *pulumirpc.DiffResponse, err error) {
	defer guard("Diff", &err)
	h, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := p.unmarshal(req.GetOlds(), "Diff.olds", true)
	if err != nil {
		return nil, err
	}
	news, err := p.unmarshal(req.GetNews(), "Diff.news", true)
	if err != nil {
		return nil, err
	}
	if h != nil {
		return h.diff(olds, news), nil
	}
	d := diffTopic(olds, news)
	if d.rfChange {
		o, _ := readSpec(olds)
		n, _ := readSpec(news)
		p.log(ctx, diag.Warning, req.GetUrn(), fmt.Sprintf(
			"topic %q: replicationFactor %d -> %d cannot be applied: changing the replication factor of an existing topic is not supported; the update will fail",
			o.Name, o.RF, n.RF))
	}
	return d.resp, nil
}

// wantTopic turns fully known inputs into the topic to converge on.
func wantTopic(news resource.PropertyMap, op string) (liveTopic, error) {
	spec, failures := readSpec(news)
	if len(failures) > 0 {
		return liveTopic{}, fmt.Errorf("kafka provider: %s: invalid inputs: %s", op, failures[0].Reason)
	}
	if !spec.NameKnown || !spec.PartitionsKnown || !spec.RFKnown || !spec.ConfigKnown || len(spec.ConfigUnknown) > 0 {
		return liveTopic{}, fmt.Errorf("kafka provider: %s of topic %q: inputs are not all known", op, spec.Name)
	}
	return liveTopic{Name: spec.Name, Partitions: spec.Partitions, RF: spec.RF, Config: spec.Config}, nil
}

func (p *kafkaProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (resp *pulumirpc.CreateResponse, err error) {
	defer guard("Create", &err)
	h, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := p.unmarshal(req.GetProperties(), "Create.properties", true)
	if err != nil {
		return nil, err
	}
	if h != nil {
		return p.createOther(ctx, h, req, news)
	}
	want, err := wantTopic(news, "create")
	if err != nil {
		return nil, err
	}
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	live, created, err := k.create(ctx, want)
	if err != nil {
		if !created {
			return nil, err
		}
		// The topic exists but did not settle in time: record it (with the
		// error) so the next run updates it instead of failing on "exists".
		props, merr := p.marshal(keepSecrets(topicProps(want), news), "Create.partial")
		if merr != nil {
			return nil, err
		}
		st, serr := status.New(codes.Unknown, err.Error()).WithDetails(&pulumirpc.ErrorResourceInitFailed{
			Id: want.Name, Properties: props, Reasons: []string{err.Error()},
		})
		if serr != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	props, err := p.marshal(keepSecrets(topicProps(live), news), "Create.outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: live.Name, Properties: props}, nil
}

func (p *kafkaProvider) Read(ctx context.Context, req *pulumirpc.ReadRequest) (resp *pulumirpc.ReadResponse, err error) {
	defer guard("Read", &err)
	h, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	oldProps, err := p.unmarshal(req.GetProperties(), "Read.properties", true)
	if err != nil {
		return nil, err
	}
	oldInputs, err := p.unmarshal(req.GetInputs(), "Read.inputs", true)
	if err != nil {
		return nil, err
	}
	if h != nil {
		return p.readOther(ctx, h, req, oldProps, oldInputs)
	}
	name := req.GetId()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "kafka provider: reading a topic needs its ID, the topic name")
	}
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	live, found, err := k.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return &pulumirpc.ReadResponse{Id: ""}, nil // gone
	}
	outputs := keepSecrets(topicProps(live), oldProps, oldInputs)
	// Inputs as they would have to be written to match the live topic: the
	// old inputs (refresh) with the live values, or (import) the live values.
	inputs := topicProps(live)
	if _, had := oldInputs[keyConfig]; !had && len(live.Config) == 0 {
		delete(inputs, keyConfig)
	}
	inputs = keepSecrets(inputs, oldInputs, oldProps)
	outStruct, err := p.marshal(outputs, "Read.outputs")
	if err != nil {
		return nil, err
	}
	inStruct, err := p.marshal(inputs, "Read.inputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: live.Name, Properties: outStruct, Inputs: inStruct}, nil
}

func (p *kafkaProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (resp *pulumirpc.UpdateResponse, err error) {
	defer guard("Update", &err)
	h, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := p.unmarshal(req.GetNews(), "Update.news", true)
	if err != nil {
		return nil, err
	}
	if h != nil {
		return p.updateOther(ctx, h, req, news)
	}
	want, err := wantTopic(news, "update")
	if err != nil {
		return nil, err
	}
	if req.GetId() != "" && req.GetId() != want.Name {
		return nil, fmt.Errorf("kafka provider: cannot rename topic %q to %q in place (renaming replaces the topic)", req.GetId(), want.Name)
	}
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	live, err := k.update(ctx, want)
	if err != nil {
		var rf *rfChangeError
		if errors.As(err, &rf) {
			rf.urn = req.GetUrn()
		}
		return nil, err
	}
	props, err := p.marshal(keepSecrets(topicProps(live), news), "Update.outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *kafkaProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (resp *emptypb.Empty, err error) {
	defer guard("Delete", &err)
	h, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if h != nil {
		return p.deleteOther(ctx, h, req)
	}
	name := req.GetId()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "kafka provider: deleting a topic needs its ID, the topic name")
	}
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	if err := k.delete(ctx, name); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// --- functions ------------------------------------------------------------------------

func (p *kafkaProvider) Invoke(ctx context.Context, req *pulumirpc.InvokeRequest) (resp *pulumirpc.InvokeResponse, err error) {
	defer guard("Invoke", &err)
	args, err := p.unmarshal(req.GetArgs(), "Invoke.args", false)
	if err != nil {
		return nil, err
	}
	var ret resource.PropertyMap
	switch req.GetTok() {
	case "kafka:index:getTopics", "kafka:index/getTopics:getTopics":
		ret, err = p.getTopics(ctx)
	case "kafka:index:getTopic", "kafka:index/getTopic:getTopic":
		v, ok := args["name"]
		name, serr := valueString(v)
		if !ok || serr != nil || name == "" {
			return &pulumirpc.InvokeResponse{Failures: []*pulumirpc.CheckFailure{{Property: "name", Reason: "name (a topic name) is required"}}}, nil
		}
		ret, err = p.getTopic(ctx, name)
	default:
		return nil, status.Errorf(codes.Unimplemented, "kafka provider: function %q is not implemented (only getTopic and getTopics)", req.GetTok())
	}
	if err != nil {
		return nil, err
	}
	out, err := plugin.MarshalProperties(ret, plugin.MarshalOptions{Label: "Invoke.return"})
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: out}, nil
}

func (p *kafkaProvider) getTopics(ctx context.Context) (resource.PropertyMap, error) {
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, 0)
	defer cancel()
	cluster, topics, err := k.listAll(ctx)
	if err != nil {
		return nil, err
	}
	if cluster == "" {
		cluster = "kafka"
	}
	list := make([]resource.PropertyValue, 0, len(topics))
	for _, t := range topics {
		cfg := resource.PropertyMap{}
		for ck, cv := range t.Config {
			cfg[resource.PropertyKey(ck)] = resource.NewProperty(cv)
		}
		list = append(list, resource.NewProperty(resource.PropertyMap{
			"topicName":         resource.NewProperty(t.Name),
			"partitions":        resource.NewProperty(float64(t.Partitions)),
			"replicationFactor": resource.NewProperty(float64(t.RF)),
			"config":            resource.NewProperty(cfg),
		}))
	}
	return resource.PropertyMap{
		"id":    resource.NewProperty(cluster),
		"lists": resource.NewProperty(list),
	}, nil
}

func (p *kafkaProvider) getTopic(ctx context.Context, name string) (resource.PropertyMap, error) {
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, 0)
	defer cancel()
	live, found, err := k.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("kafka topic %q on %s: not found", name, k.cfg.servers())
	}
	m := topicProps(live)
	m["id"] = resource.NewProperty(live.Name)
	return m, nil
}
