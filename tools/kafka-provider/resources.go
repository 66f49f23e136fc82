package main

// The resource types other than Topic (ACL, Quota, UserScramCredential) share
// one small interface, so the RPC layer in provider.go dispatches on the URN's
// type. Topic keeps its own code paths (topic.go, kafka.go).

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

type resourceHandler interface {
	// check validates new inputs and returns them normalized (defaults
	// filled in like upstream's bridge does). Secrets and unknowns are kept.
	check(req *pulumirpc.CheckRequest, olds, news resource.PropertyMap) (resource.PropertyMap, []configFailure)
	// diff compares checked new inputs with the old state (outputs).
	diff(olds, news resource.PropertyMap) *pulumirpc.DiffResponse
	// create returns the ID and outputs. created reports whether Kafka
	// accepted the change even when err is set (the wait for it failed).
	create(ctx context.Context, k *kafkaClient, news resource.PropertyMap) (id string, outs resource.PropertyMap, created bool, err error)
	// read returns the live state; id "" means the resource is gone.
	// oldProps/oldInputs are empty on import: the ID alone says what to read.
	read(ctx context.Context, k *kafkaClient, id string, oldProps, oldInputs resource.PropertyMap) (newID string, outs, inputs resource.PropertyMap, err error)
	update(ctx context.Context, k *kafkaClient, id string, olds, news resource.PropertyMap) (resource.PropertyMap, error)
	delete(ctx context.Context, k *kafkaClient, id string, olds resource.PropertyMap) error
}

var handlers = map[string]resourceHandler{
	aclType:   aclHandler{},
	quotaType: quotaHandler{},
	scramType: scramHandler{},
}

// handlerFor returns the handler of a URN's type; nil for Topic.
func handlerFor(urn string) (resourceHandler, string, error) {
	t := string(resource.URN(urn).Type())
	if t == topicType {
		return nil, t, nil
	}
	if h, ok := handlers[t]; ok {
		return h, t, nil
	}
	return nil, t, fmt.Errorf("kafka provider: resource type %q is not implemented (this provider manages %s, %s, %s and %s)",
		t, topicType, aclType, quotaType, scramType)
}

// --- property helpers -----------------------------------------------------------

// strProp reads a string property: present=false when missing or null,
// known=false when (part of) it is unknown.
type strProp struct {
	S       string
	Present bool
	Known   bool
	Secret  bool
}

func getStr(m resource.PropertyMap, key resource.PropertyKey) (strProp, error) {
	v, ok := m[key]
	if !ok || isAbsent(v) {
		return strProp{Known: true}, nil
	}
	_, secret, unk := unwrap(v)
	if unk {
		return strProp{Present: true, Secret: secret}, nil
	}
	s, err := valueString(v)
	if err != nil {
		return strProp{Present: true, Known: true, Secret: secret}, fmt.Errorf("%s: %v", key, err)
	}
	return strProp{S: s, Present: true, Known: true, Secret: secret}, nil
}

// requiredStrings reads required string inputs; a missing one is a failure,
// an unknown one is passed through.
func requiredStrings(news resource.PropertyMap, keys ...resource.PropertyKey) (map[resource.PropertyKey]strProp, []configFailure) {
	out := map[resource.PropertyKey]strProp{}
	var failures []configFailure
	for _, k := range keys {
		p, err := getStr(news, k)
		switch {
		case err != nil:
			failures = append(failures, configFailure{string(k), err.Error()})
		case !p.Present || (p.Known && p.S == ""):
			failures = append(failures, configFailure{string(k), fmt.Sprintf("missing required property '%s'", k)})
		}
		out[k] = p
	}
	return out, failures
}

// oneOf checks a known value against the allowed spellings (case-sensitive,
// as upstream).
func oneOf(key resource.PropertyKey, p strProp, allowed []string) []configFailure {
	if !p.Present || !p.Known || p.S == "" {
		return nil
	}
	for _, a := range allowed {
		if p.S == a {
			return nil
		}
	}
	return []configFailure{{string(key), fmt.Sprintf("%s %q is not one of %s", key, p.S, strings.Join(allowed, ", "))}}
}

// keepString puts the checked value back, keeping a secret wrapper.
func keepString(out resource.PropertyMap, key resource.PropertyKey, in resource.PropertyMap, p strProp) {
	if !p.Present {
		return
	}
	if !p.Known {
		out[key] = in[key]
		return
	}
	v := resource.NewProperty(p.S)
	if p.Secret {
		v = resource.MakeSecret(v)
	}
	out[key] = v
}

// replaceDiff builds a DiffResponse in which each changed key replaces
// (replace) or updates in place (update).
type diffBuilder struct {
	detailed map[string]*pulumirpc.PropertyDiff
	replaces []string
}

func newDiff() *diffBuilder { return &diffBuilder{detailed: map[string]*pulumirpc.PropertyDiff{}} }

func (d *diffBuilder) change(path string, old, new strProp, replace bool) {
	if new.Known && old.Known && old.Present == new.Present && old.S == new.S {
		return
	}
	kind := pulumirpc.PropertyDiff_UPDATE
	switch {
	case !old.Present && new.Present:
		kind = pulumirpc.PropertyDiff_ADD
	case old.Present && !new.Present && new.Known:
		kind = pulumirpc.PropertyDiff_DELETE
	}
	if replace {
		kind += pulumirpc.PropertyDiff_ADD_REPLACE - pulumirpc.PropertyDiff_ADD
		d.replaces = append(d.replaces, topKey(path))
	}
	d.detailed[path] = &pulumirpc.PropertyDiff{Kind: kind}
}

func topKey(path string) string {
	if i := strings.IndexAny(path, ".["); i > 0 {
		return path[:i]
	}
	return path
}

func (d *diffBuilder) response(deleteBeforeReplace bool) *pulumirpc.DiffResponse {
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    d.detailed,
		HasDetailedDiff: true,
	}
	if len(d.detailed) == 0 {
		return resp
	}
	resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	top := map[string]bool{}
	for p := range d.detailed {
		top[topKey(p)] = true
	}
	for k := range top {
		resp.Diffs = append(resp.Diffs, k)
	}
	sort.Strings(resp.Diffs)
	rep := map[string]bool{}
	for _, r := range d.replaces {
		rep[r] = true
	}
	for r := range rep {
		resp.Replaces = append(resp.Replaces, r)
	}
	sort.Strings(resp.Replaces)
	resp.DeleteBeforeReplace = deleteBeforeReplace && len(resp.Replaces) > 0
	return resp
}

// errNotFound marks "the thing does not exist" inside the resource code.
var errNotFound = errors.New("not found")
