package main

// kafka:index/quota:Quota — the client quotas of one entity (a user, a
// client-id or an IP; without entityName, the entity type's default). Every
// input replaces (upstream marks entityName, entityType and config ForceNew),
// so there is no Update; a replacement of the same entity deletes first.
//
// ID: "<entityType>:<entityName>" ("user:" for the default user entity), the
// format of upstream's documented import. Import also accepts
// "<entityName>|<entityType>" (the ID terraform-provider-kafka records).

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const quotaType = "kafka:index/quota:Quota"

const (
	keyEntityType = resource.PropertyKey("entityType")
	keyEntityName = resource.PropertyKey("entityName")
	keyQuotaCfg   = resource.PropertyKey("config")
)

var quotaEntityTypes = []string{"client-id", "user", "ip"}

type quotaSpec struct {
	Type   string
	Name   string // "" = the entity type's default
	Config map[string]float64
}

func (q quotaSpec) id() string { return q.Type + ":" + q.Name }

func (q quotaSpec) String() string {
	if q.Name == "" {
		return q.Type + " <default>"
	}
	return fmt.Sprintf("%s %q", q.Type, q.Name)
}

func parseQuotaID(id string) (quotaSpec, error) {
	var q quotaSpec
	if i := strings.LastIndex(id, "|"); i >= 0 && isQuotaType(id[i+1:]) {
		q = quotaSpec{Type: id[i+1:], Name: id[:i]}
	} else if i := strings.Index(id, ":"); i >= 0 && isQuotaType(id[:i]) {
		q = quotaSpec{Type: id[:i], Name: id[i+1:]}
	} else {
		return q, fmt.Errorf("kafka provider: quota ID %q: expected <entityType>:<entityName> (e.g. client-id:my-client, or user: for the default user quota) with entityType one of %s",
			id, strings.Join(quotaEntityTypes, ", "))
	}
	if q.Name == "entity-default" || q.Name == "<default>" {
		q.Name = ""
	}
	return q, nil
}

func isQuotaType(s string) bool {
	for _, t := range quotaEntityTypes {
		if s == t {
			return true
		}
	}
	return false
}

func (q quotaSpec) entity() kadm.ClientQuotaEntity {
	c := kadm.ClientQuotaEntityComponent{Type: q.Type}
	if q.Name != "" {
		name := q.Name
		c.Name = &name
	}
	return kadm.ClientQuotaEntity{c}
}

func (q quotaSpec) props() resource.PropertyMap {
	cfg := resource.PropertyMap{}
	for k, v := range q.Config {
		cfg[resource.PropertyKey(k)] = resource.NewProperty(formatNumber(v))
	}
	m := resource.PropertyMap{keyEntityType: resource.NewProperty(q.Type), keyQuotaCfg: resource.NewProperty(cfg)}
	if q.Name != "" {
		m[keyEntityName] = resource.NewProperty(q.Name)
	}
	return m
}

// quotaConfig reads the config map: values are numbers (upstream's element
// type is float), given as strings or numbers. unknown lists unknown keys;
// known=false when the whole map is unknown.
func quotaConfig(m resource.PropertyMap) (cfg map[string]float64, known bool, unknown []string, failures []configFailure) {
	cfg, known = map[string]float64{}, true
	v, ok := m[keyQuotaCfg]
	if !ok || isAbsent(v) {
		return cfg, true, nil, nil
	}
	inner, _, unk := unwrap(v)
	if unk {
		return cfg, false, nil, nil
	}
	if !inner.IsObject() {
		return cfg, true, nil, []configFailure{{"config", fmt.Sprintf("config must be a map of numbers (as strings), got %s", inner.TypeString())}}
	}
	for k, ev := range inner.ObjectValue() {
		if _, _, eunk := unwrap(ev); eunk {
			unknown = append(unknown, string(k))
			continue
		}
		s, err := valueString(ev)
		if err == nil {
			var f float64
			f, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
				err = fmt.Errorf("not a finite number")
			}
			if err == nil {
				cfg[string(k)] = f
				continue
			}
			err = fmt.Errorf("%q is not a number", s)
		}
		failures = append(failures, configFailure{"config", fmt.Sprintf("config[%q]: %v", string(k), err)})
	}
	sort.Strings(unknown)
	return cfg, true, unknown, failures
}

func quotaFromProps(m resource.PropertyMap) quotaSpec {
	t, _ := getStr(m, keyEntityType)
	n, _ := getStr(m, keyEntityName)
	cfg, _, _, _ := quotaConfig(m)
	return quotaSpec{Type: t.S, Name: n.S, Config: cfg}
}

type quotaHandler struct{}

func (quotaHandler) check(_ *pulumirpc.CheckRequest, _, news resource.PropertyMap) (resource.PropertyMap, []configFailure) {
	req, failures := requiredStrings(news, keyEntityType)
	failures = append(failures, oneOf(keyEntityType, req[keyEntityType], quotaEntityTypes)...)
	out := resource.PropertyMap{}
	keepString(out, keyEntityType, news, req[keyEntityType])
	name, err := getStr(news, keyEntityName)
	if err != nil {
		failures = append(failures, configFailure{string(keyEntityName), err.Error()})
	}
	if name.Present && (!name.Known || name.S != "") {
		keepString(out, keyEntityName, news, name)
	}
	cfg, known, unknown, fs := quotaConfig(news)
	failures = append(failures, fs...)
	if v, ok := news[keyQuotaCfg]; ok && !isAbsent(v) {
		if !known {
			out[keyQuotaCfg] = v
		} else if len(fs) == 0 {
			inner, secret, _ := unwrap(v)
			m := resource.PropertyMap{}
			for k, f := range cfg {
				m[resource.PropertyKey(k)] = secretIf(inner.ObjectValue()[resource.PropertyKey(k)], resource.NewProperty(formatNumber(f)))
			}
			for _, k := range unknown {
				m[resource.PropertyKey(k)] = inner.ObjectValue()[resource.PropertyKey(k)]
			}
			c := resource.NewProperty(m)
			if secret {
				c = resource.MakeSecret(c)
			}
			out[keyQuotaCfg] = c
		} else {
			out[keyQuotaCfg] = v
		}
	}
	return out, failures
}

func (quotaHandler) diff(olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	d := newDiff()
	for _, k := range []resource.PropertyKey{keyEntityType, keyEntityName} {
		o, _ := getStr(olds, k)
		n, _ := getStr(news, k)
		if o.Known && o.S == "" {
			o.Present = false
		}
		if n.Known && n.S == "" {
			n.Present = false
		}
		d.change(string(k), o, n, true)
	}
	ocfg, _, _, _ := quotaConfig(olds)
	ncfg, nknown, nunknown, _ := quotaConfig(news)
	if !nknown {
		d.change("config", strProp{Present: true, Known: true}, strProp{Present: true}, true)
	} else {
		unk := map[string]bool{}
		for _, k := range nunknown {
			unk[k] = true
			d.change(configPath(k), strProp{Present: hasKey(ocfg, k), Known: true}, strProp{Present: true}, true)
		}
		for k, nv := range ncfg {
			ov, had := ocfg[k]
			if !had || ov != nv {
				d.change(configPath(k), strProp{S: formatNumber(ov), Present: had, Known: true}, strProp{S: formatNumber(nv), Present: true, Known: true}, true)
			}
		}
		for k, ov := range ocfg {
			if _, ok := ncfg[k]; !ok && !unk[k] {
				d.change(configPath(k), strProp{S: formatNumber(ov), Present: true, Known: true}, strProp{Known: true}, true)
			}
		}
	}
	// Same entity: the old quota must be removed before the new one is
	// set, or deleting the old resource would remove the new values.
	o, n := quotaFromProps(olds), quotaFromProps(news)
	tn, _ := getStr(news, keyEntityType)
	nn, _ := getStr(news, keyEntityName)
	sameEntity := tn.Known && nn.Known && o.Type == n.Type && o.Name == n.Name
	return d.response(sameEntity)
}

func hasKey(m map[string]float64, k string) bool { _, ok := m[k]; return ok }

func (quotaHandler) create(ctx context.Context, k *kafkaClient, news resource.PropertyMap) (string, resource.PropertyMap, bool, error) {
	q := quotaFromProps(news)
	if q.Type == "" {
		return "", nil, false, fmt.Errorf("kafka provider: create quota: entityType is not known")
	}
	if _, known, unknown, _ := quotaConfig(news); !known || len(unknown) > 0 {
		return "", nil, false, fmt.Errorf("kafka provider: create quota (%s): config is not known", q)
	}
	if len(q.Config) == 0 {
		return q.id(), q.props(), true, nil // nothing to set
	}
	if err := k.alterQuota(ctx, q, false); err != nil {
		return "", nil, false, err
	}
	err := waitFor(ctx, func() (bool, error) {
		live, found, err := k.describeQuota(ctx, q)
		if err != nil || !found {
			return false, err
		}
		for key, v := range q.Config {
			if lv, ok := live.Config[key]; !ok || lv != v {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return q.id(), q.props(), true, fmt.Errorf("kafka quota (%s) on %s: set, but not described within the timeout: %w", q, k.cfg.servers(), err)
	}
	return q.id(), q.props(), true, nil
}

// alterQuota sets (or, remove=true, removes) the spec's config keys.
func (k *kafkaClient) alterQuota(ctx context.Context, q quotaSpec, remove bool) error {
	keys := make([]string, 0, len(q.Config))
	for key := range q.Config {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	entry := kadm.AlterClientQuotaEntry{Entity: q.entity()}
	for _, key := range keys {
		entry.Ops = append(entry.Ops, kadm.AlterClientQuotaOp{Key: key, Value: q.Config[key], Remove: remove})
	}
	rs, err := k.adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{entry})
	if err == nil && len(rs) != 1 {
		err = fmt.Errorf("expected 1 result, got %d", len(rs))
	}
	if err == nil {
		err = withMessage(rs[0].Err, rs[0].ErrMessage)
	}
	if err != nil {
		what := "setting"
		if remove {
			what = "removing"
		}
		return fmt.Errorf("kafka quota (%s) on %s: %s %s: %w", q, k.cfg.servers(), what, strings.Join(keys, ", "), err)
	}
	return nil
}

// describeQuota returns the live values of exactly this entity.
func (k *kafkaClient) describeQuota(ctx context.Context, q quotaSpec) (quotaSpec, bool, error) {
	c := kadm.DescribeClientQuotaComponent{Type: q.Type, MatchType: kmsg.QuotasMatchTypeDefault}
	if q.Name != "" {
		name := q.Name
		c.MatchName, c.MatchType = &name, kmsg.QuotasMatchTypeExact
	}
	qs, err := k.adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{c})
	if err != nil {
		return quotaSpec{}, false, fmt.Errorf("kafka quota (%s) on %s: describing: %w", q, k.cfg.servers(), err)
	}
	for _, d := range qs {
		if len(d.Entity) != 1 || d.Entity[0].Type != q.Type {
			continue
		}
		if (d.Entity[0].Name == nil) != (q.Name == "") || (d.Entity[0].Name != nil && *d.Entity[0].Name != q.Name) {
			continue
		}
		live := quotaSpec{Type: q.Type, Name: q.Name, Config: map[string]float64{}}
		for _, v := range d.Values {
			live.Config[v.Key] = v.Value
		}
		return live, len(live.Config) > 0, nil
	}
	return quotaSpec{}, false, nil
}

func (quotaHandler) read(ctx context.Context, k *kafkaClient, id string, oldProps, oldInputs resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error) {
	var q quotaSpec
	switch {
	case oldProps[keyEntityType].HasValue():
		q = quotaFromProps(oldProps)
	case oldInputs[keyEntityType].HasValue():
		q = quotaFromProps(oldInputs)
	default:
		var err error
		if q, err = parseQuotaID(id); err != nil {
			return "", nil, nil, err
		}
	}
	live, found, err := k.describeQuota(ctx, q)
	if err != nil {
		return "", nil, nil, err
	}
	if !found {
		if len(q.Config) == 0 && len(oldProps) > 0 {
			// Nothing was ever set: an empty quota has nothing to lose.
			return q.id(), q.props(), q.props(), nil
		}
		return "", nil, nil, nil
	}
	// As upstream: the state's config becomes every value set on the entity.
	return live.id(), live.props(), live.props(), nil
}

func (quotaHandler) update(_ context.Context, _ *kafkaClient, id string, _, _ resource.PropertyMap) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("kafka provider: quota %q cannot be updated in place (every change replaces it)", id)
}

func (quotaHandler) delete(ctx context.Context, k *kafkaClient, id string, olds resource.PropertyMap) error {
	q := quotaFromProps(olds)
	if q.Type == "" {
		var err error
		if q, err = parseQuotaID(id); err != nil {
			return err
		}
	}
	if len(q.Config) == 0 {
		return nil
	}
	// As upstream: remove the keys this resource set, not others on the entity.
	if err := k.alterQuota(ctx, q, true); err != nil {
		return err
	}
	err := waitFor(ctx, func() (bool, error) {
		live, found, err := k.describeQuota(ctx, q)
		if err != nil || !found {
			return err == nil, err
		}
		for key := range q.Config {
			if _, ok := live.Config[key]; ok {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("kafka quota (%s) on %s: removed, but still described after the timeout: %w", q, k.cfg.servers(), err)
	}
	return nil
}
