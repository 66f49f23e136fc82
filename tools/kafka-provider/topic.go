package main

// The kafka:index/topic:Topic resource model: input checking, diffing and
// the property maps we hand back to the engine. No Kafka I/O here.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const topicType = "kafka:index/topic:Topic"

const (
	keyName       = resource.PropertyKey("name")
	keyPartitions = resource.PropertyKey("partitions")
	keyRF         = resource.PropertyKey("replicationFactor")
	keyConfig     = resource.PropertyKey("config")
)

// topicSpec is a topic's inputs or state, with what of it is known.
type topicSpec struct {
	Name            string
	NameKnown       bool
	Partitions      int64
	PartitionsKnown bool
	RF              int64
	RFKnown         bool
	Config          map[string]string // known entries
	ConfigKnown     bool              // false: the whole map is unknown
	ConfigUnknown   map[string]bool   // keys whose value is unknown
}

// liveTopic is a topic as Kafka describes it.
type liveTopic struct {
	Name       string
	Partitions int64
	RF         int64
	Config     map[string]string // dynamic (non-default) topic configs
}

var topicNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

func validTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("topic name must not be empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q is not allowed", name)
	case len(name) > 249:
		return fmt.Errorf("topic name %q is longer than 249 characters", name)
	case !topicNameRE.MatchString(name):
		return fmt.Errorf("topic name %q may only contain ASCII letters, digits, '.', '_' and '-'", name)
	}
	return nil
}

// readSpec reads name/partitions/replicationFactor/config from inputs or
// state, tolerating unknowns. Type problems become errors (Check reports them
// as failures).
func readSpec(props resource.PropertyMap) (topicSpec, []configFailure) {
	var s topicSpec
	var failures []configFailure
	fail := func(prop, format string, args ...any) {
		failures = append(failures, configFailure{prop, fmt.Sprintf(format, args...)})
	}
	if v, ok := props[keyName]; ok && !isAbsent(v) {
		if _, _, unk := unwrap(v); !unk {
			name, err := valueString(v)
			if err != nil {
				fail("name", "name: %v", err)
			}
			s.Name, s.NameKnown = name, err == nil
		}
	}
	readInt := func(key resource.PropertyKey, label string, max int64) (int64, bool) {
		v, ok := props[key]
		if !ok || isAbsent(v) {
			return 0, false
		}
		if _, _, unk := unwrap(v); unk {
			return 0, false
		}
		n, err := valueInt(v)
		if err != nil {
			fail(string(key), "%s: %v", label, err)
			return 0, false
		}
		if n < 1 || n > max {
			fail(string(key), "%s must be between 1 and %d, got %d", label, max, n)
			return n, false
		}
		return n, true
	}
	s.Partitions, s.PartitionsKnown = readInt(keyPartitions, "partitions", 1<<31-1)
	s.RF, s.RFKnown = readInt(keyRF, "replicationFactor", 1<<15-1)

	s.Config, s.ConfigKnown = map[string]string{}, true
	s.ConfigUnknown = map[string]bool{}
	if v, ok := props[keyConfig]; ok && !isAbsent(v) {
		inner, _, unk := unwrap(v)
		switch {
		case unk:
			s.ConfigKnown = false
		case !inner.IsObject():
			fail("config", "config must be a map of strings, got %s", inner.TypeString())
		default:
			for k, ev := range inner.ObjectValue() {
				if _, _, eunk := unwrap(ev); eunk {
					s.ConfigUnknown[string(k)] = true
					continue
				}
				if isAbsent(ev) {
					fail("config", "config[%q] must not be null", string(k))
					continue
				}
				str, err := valueString(ev)
				if err != nil {
					fail("config", "config[%q]: %v", string(k), err)
					continue
				}
				s.Config[string(k)] = str
			}
		}
	}
	return s, failures
}

// checkTopic validates new inputs and returns them normalized: name filled in
// (autonamed if absent), numbers for the counts, strings for config values.
// Secret and unknown values stay as they are.
func checkTopic(req *pulumirpc.CheckRequest, olds, news resource.PropertyMap) (resource.PropertyMap, []configFailure) {
	spec, failures := readSpec(news)
	out := resource.PropertyMap{}

	// name
	if v, ok := news[keyName]; ok && !isAbsent(v) {
		out[keyName] = v
		if spec.NameKnown {
			if err := validTopicName(spec.Name); err != nil {
				failures = append(failures, configFailure{"name", err.Error()})
			}
		}
	} else if ov, ok := olds[keyName]; ok && !isAbsent(ov) {
		out[keyName] = ov // keep an earlier generated name
	} else {
		name, err := autoName(req)
		if err != nil {
			failures = append(failures, configFailure{"name", err.Error()})
		} else {
			out[keyName] = resource.NewProperty(name)
		}
	}

	// partitions / replicationFactor: required integers >= 1
	for _, k := range []resource.PropertyKey{keyPartitions, keyRF} {
		v, ok := news[k]
		if !ok || isAbsent(v) {
			failures = append(failures, configFailure{string(k), fmt.Sprintf("missing required property '%s'", k)})
			continue
		}
		if _, _, unk := unwrap(v); unk {
			out[k] = v
			continue
		}
		n := spec.Partitions
		if k == keyRF {
			n = spec.RF
		}
		out[k] = secretIf(v, resource.NewProperty(float64(n)))
	}

	// config: values stringified, per-entry secrets and unknowns kept
	if v, ok := news[keyConfig]; ok && !isAbsent(v) {
		inner, _, unk := unwrap(v)
		if unk || !inner.IsObject() {
			out[keyConfig] = v
		} else {
			m := resource.PropertyMap{}
			for k, ev := range inner.ObjectValue() {
				if s, ok := spec.Config[string(k)]; ok {
					m[k] = secretIf(ev, resource.NewProperty(s))
				} else {
					m[k] = ev
				}
			}
			cfg := resource.NewProperty(m)
			if _, secret, _ := unwrap(v); secret {
				cfg = resource.MakeSecret(cfg)
			}
			out[keyConfig] = cfg
		}
	}
	return out, failures
}

// autoName: a topic without `name` is named like upstream's bridge does it,
// the resource name plus a random suffix (stable for the resource, from the
// engine's random seed), unless the engine's autonaming options say otherwise.
func autoName(req *pulumirpc.CheckRequest) (string, error) {
	if a := req.GetAutonaming(); a != nil {
		switch a.GetMode() {
		case pulumirpc.CheckRequest_AutonamingOptions_DISABLE:
			return "", fmt.Errorf("name is required: automatic naming is disabled")
		case pulumirpc.CheckRequest_AutonamingOptions_ENFORCE, pulumirpc.CheckRequest_AutonamingOptions_PROPOSE:
			if a.GetProposedName() != "" {
				return a.GetProposedName(), validTopicName(a.GetProposedName())
			}
		}
	}
	base := req.GetName()
	if base == "" {
		base = resource.URN(req.GetUrn()).Name()
	}
	sum := sha256.Sum256(append([]byte(base+"\x00"), req.GetRandomSeed()...))
	name := base + "-" + hex.EncodeToString(sum[:])[:7]
	return name, validTopicName(name)
}

// topicProps renders a topic as outputs/inputs.
func topicProps(t liveTopic) resource.PropertyMap {
	cfg := resource.PropertyMap{}
	for k, v := range t.Config {
		cfg[resource.PropertyKey(k)] = resource.NewProperty(v)
	}
	return resource.PropertyMap{
		keyName:       resource.NewProperty(t.Name),
		keyPartitions: resource.NewProperty(float64(t.Partitions)),
		keyRF:         resource.NewProperty(float64(t.RF)),
		keyConfig:     resource.NewProperty(cfg),
	}
}

// keepSecrets marks each top-level property (and config entry) of out secret
// where the same property of any of the sources was secret.
func keepSecrets(out resource.PropertyMap, sources ...resource.PropertyMap) resource.PropertyMap {
	for k, v := range out {
		for _, src := range sources {
			sv, ok := src[k]
			if !ok {
				continue
			}
			if sv.IsSecret() && !v.IsSecret() {
				v = resource.MakeSecret(v)
			} else if k == keyConfig && v.IsObject() {
				inner, _, unk := unwrap(sv)
				if !unk && inner.IsObject() {
					m := v.ObjectValue()
					for ck, cv := range inner.ObjectValue() {
						if cur, ok := m[ck]; ok && cv.ContainsSecrets() && !cur.IsSecret() {
							m[ck] = resource.MakeSecret(cur)
						}
					}
				}
			}
		}
		out[k] = v
	}
	return out
}

type topicDiff struct {
	resp            *pulumirpc.DiffResponse
	rfChange        bool
	partitionShrink bool
}

// diffTopic compares the new (checked) inputs with the old state.
func diffTopic(olds, news resource.PropertyMap) topicDiff {
	o, _ := readSpec(olds)
	n, _ := readSpec(news)
	detailed := map[string]*pulumirpc.PropertyDiff{}
	var replaces []string
	var d topicDiff
	set := func(path string, kind pulumirpc.PropertyDiff_Kind) {
		detailed[path] = &pulumirpc.PropertyDiff{Kind: kind}
	}

	if !n.NameKnown || n.Name != o.Name {
		set("name", pulumirpc.PropertyDiff_UPDATE_REPLACE)
		replaces = append(replaces, "name")
	}
	switch {
	case !n.PartitionsKnown:
		set("partitions", pulumirpc.PropertyDiff_UPDATE)
	case n.Partitions < o.Partitions:
		set("partitions", pulumirpc.PropertyDiff_UPDATE_REPLACE)
		replaces = append(replaces, "partitions")
		d.partitionShrink = true
	case n.Partitions > o.Partitions:
		set("partitions", pulumirpc.PropertyDiff_UPDATE)
	}
	switch {
	case !n.RFKnown:
		set("replicationFactor", pulumirpc.PropertyDiff_UPDATE)
	case n.RF != o.RF:
		set("replicationFactor", pulumirpc.PropertyDiff_UPDATE)
		d.rfChange = true
	}
	if !n.ConfigKnown {
		set("config", pulumirpc.PropertyDiff_UPDATE)
	} else {
		for k, nv := range n.Config {
			ov, had := o.Config[k]
			switch {
			case !had:
				set(configPath(k), pulumirpc.PropertyDiff_ADD)
			case ov != nv:
				set(configPath(k), pulumirpc.PropertyDiff_UPDATE)
			}
		}
		for k := range n.ConfigUnknown {
			if _, had := o.Config[k]; had {
				set(configPath(k), pulumirpc.PropertyDiff_UPDATE)
			} else {
				set(configPath(k), pulumirpc.PropertyDiff_ADD)
			}
		}
		for k := range o.Config {
			_, known := n.Config[k]
			if !known && !n.ConfigUnknown[k] {
				set(configPath(k), pulumirpc.PropertyDiff_DELETE)
			}
		}
	}

	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    detailed,
		HasDetailedDiff: true,
		Replaces:        replaces,
		// A topic's name is its identity: a replacement has to delete the old
		// topic first when the name stays (upstream behaves the same).
		DeleteBeforeReplace: len(replaces) > 0 && n.NameKnown && n.Name == o.Name,
	}
	if len(detailed) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
		top := map[string]bool{}
		for path := range detailed {
			if len(path) >= 6 && path[:6] == "config" {
				top["config"] = true
			} else {
				top[path] = true
			}
		}
		for k := range top {
			resp.Diffs = append(resp.Diffs, k)
		}
		sort.Strings(resp.Diffs)
	}
	d.resp = resp
	return d
}

// configPath is the property path of a config entry; keys contain dots, so
// they are quoted.
func configPath(key string) string {
	return fmt.Sprintf("config[%q]", key)
}
