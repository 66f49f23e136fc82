package main

// kafka:index/acl:Acl — one ACL binding. Every input replaces (upstream marks
// them all ForceNew), so there is no Update. ID and import format (upstream's):
//
//	aclPrincipal|aclHost|aclOperation|aclPermissionType|aclResourceType|aclResourceName|resourcePatternTypeFilter

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const aclType = "kafka:index/acl:Acl"

const (
	keyACLHost       = resource.PropertyKey("aclHost")
	keyACLOperation  = resource.PropertyKey("aclOperation")
	keyACLPermission = resource.PropertyKey("aclPermissionType")
	keyACLPrincipal  = resource.PropertyKey("aclPrincipal")
	keyACLResName    = resource.PropertyKey("aclResourceName")
	keyACLResType    = resource.PropertyKey("aclResourceType")
	keyACLPattern    = resource.PropertyKey("resourcePatternTypeFilter")
)

// aclKeys in ID order (after the principal-first order of upstream's ID).
var aclKeys = []resource.PropertyKey{keyACLPrincipal, keyACLHost, keyACLOperation, keyACLPermission, keyACLResType, keyACLResName, keyACLPattern}

// The spellings upstream (terraform-provider-kafka) uses, mapped to Kafka's enums.
var (
	aclOperations = map[string]kmsg.ACLOperation{
		"All": kmsg.ACLOperationAll, "Read": kmsg.ACLOperationRead, "Write": kmsg.ACLOperationWrite,
		"Create": kmsg.ACLOperationCreate, "Delete": kmsg.ACLOperationDelete, "Alter": kmsg.ACLOperationAlter,
		"Describe": kmsg.ACLOperationDescribe, "ClusterAction": kmsg.ACLOperationClusterAction,
		"DescribeConfigs": kmsg.ACLOperationDescribeConfigs, "AlterConfigs": kmsg.ACLOperationAlterConfigs,
		"IdempotentWrite": kmsg.ACLOperationIdempotentWrite, "CreateTokens": kmsg.ACLOperationCreateTokens,
		"DescribeTokens": kmsg.ACLOperationDescribeTokens,
	}
	aclPermissions = map[string]kmsg.ACLPermissionType{"Allow": kmsg.ACLPermissionTypeAllow, "Deny": kmsg.ACLPermissionTypeDeny}
	aclResTypes    = map[string]kmsg.ACLResourceType{
		"Topic": kmsg.ACLResourceTypeTopic, "Group": kmsg.ACLResourceTypeGroup, "Cluster": kmsg.ACLResourceTypeCluster,
		"TransactionalID": kmsg.ACLResourceTypeTransactionalId, "DelegationToken": kmsg.ACLResourceTypeDelegationToken,
	}
	aclPatterns = map[string]kmsg.ACLResourcePatternType{"Literal": kmsg.ACLResourcePatternTypeLiteral, "Prefixed": kmsg.ACLResourcePatternTypePrefixed}
)

func names[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// aclSpec is one ACL binding in upstream's spellings.
type aclSpec struct {
	Principal, Host, Operation, Permission, ResType, ResName, Pattern string
}

func (a aclSpec) id() string {
	return strings.Join([]string{a.Principal, a.Host, a.Operation, a.Permission, a.ResType, a.ResName, a.Pattern}, "|")
}

func (a aclSpec) String() string {
	return fmt.Sprintf("%s %s %s on %s %q (%s) from host %q", a.Permission, a.Principal, a.Operation, a.ResType, a.ResName, a.Pattern, a.Host)
}

func parseACLID(id string) (aclSpec, error) {
	parts := strings.Split(id, "|")
	if len(parts) != 7 {
		return aclSpec{}, fmt.Errorf("kafka provider: ACL ID %q: expected the format "+
			"aclPrincipal|aclHost|aclOperation|aclPermissionType|aclResourceType|aclResourceName|resourcePatternTypeFilter, got %d segments instead of 7",
			id, len(parts))
	}
	a := aclSpec{parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6]}
	if fs := a.validate(); len(fs) > 0 {
		return aclSpec{}, fmt.Errorf("kafka provider: ACL ID %q: %s", id, fs[0].Reason)
	}
	return a, nil
}

func (a aclSpec) validate() []configFailure {
	var fs []configFailure
	fs = append(fs, oneOf(keyACLOperation, strProp{S: a.Operation, Present: true, Known: true}, names(aclOperations))...)
	fs = append(fs, oneOf(keyACLPermission, strProp{S: a.Permission, Present: true, Known: true}, names(aclPermissions))...)
	fs = append(fs, oneOf(keyACLResType, strProp{S: a.ResType, Present: true, Known: true}, names(aclResTypes))...)
	fs = append(fs, oneOf(keyACLPattern, strProp{S: a.Pattern, Present: true, Known: true}, names(aclPatterns))...)
	if a.Principal != "" && !strings.Contains(a.Principal, ":") {
		fs = append(fs, configFailure{string(keyACLPrincipal), fmt.Sprintf("aclPrincipal %q must be of the form <type>:<name>, e.g. User:alice", a.Principal)})
	}
	if a.ResType == "Cluster" && a.ResName != "" && a.ResName != "kafka-cluster" {
		fs = append(fs, configFailure{string(keyACLResName), fmt.Sprintf("aclResourceName of a Cluster ACL must be \"kafka-cluster\", got %q", a.ResName)})
	}
	return fs
}

func aclFromProps(m resource.PropertyMap) (aclSpec, bool) {
	get := func(k resource.PropertyKey) string {
		p, _ := getStr(m, k)
		return p.S
	}
	a := aclSpec{get(keyACLPrincipal), get(keyACLHost), get(keyACLOperation), get(keyACLPermission), get(keyACLResType), get(keyACLResName), get(keyACLPattern)}
	if a.Pattern == "" {
		a.Pattern = "Literal"
	}
	return a, a.Principal != "" && a.Host != "" && a.Operation != "" && a.Permission != "" && a.ResType != "" && a.ResName != ""
}

func (a aclSpec) props() resource.PropertyMap {
	return resource.PropertyMap{
		keyACLPrincipal: resource.NewProperty(a.Principal), keyACLHost: resource.NewProperty(a.Host),
		keyACLOperation: resource.NewProperty(a.Operation), keyACLPermission: resource.NewProperty(a.Permission),
		keyACLResType: resource.NewProperty(a.ResType), keyACLResName: resource.NewProperty(a.ResName),
		keyACLPattern: resource.NewProperty(a.Pattern),
	}
}

// builder is the kadm filter/creation matching exactly this binding.
func (a aclSpec) builder() *kadm.ACLBuilder {
	b := kadm.NewACLs().ResourcePatternType(aclPatterns[a.Pattern]).Operations(aclOperations[a.Operation])
	switch a.ResType {
	case "Topic":
		b.Topics(a.ResName)
	case "Group":
		b.Groups(a.ResName)
	case "Cluster":
		b.Clusters()
	case "TransactionalID":
		b.TransactionalIDs(a.ResName)
	case "DelegationToken":
		b.DelegationTokens(a.ResName)
	}
	if a.Permission == "Deny" {
		b.Deny(a.Principal).DenyHosts(a.Host)
	} else {
		b.Allow(a.Principal).AllowHosts(a.Host)
	}
	return b
}

type aclHandler struct{}

func (aclHandler) check(_ *pulumirpc.CheckRequest, _, news resource.PropertyMap) (resource.PropertyMap, []configFailure) {
	req, failures := requiredStrings(news, keyACLHost, keyACLOperation, keyACLPermission, keyACLPrincipal, keyACLResName, keyACLResType)
	pattern, err := getStr(news, keyACLPattern)
	if err != nil {
		failures = append(failures, configFailure{string(keyACLPattern), err.Error()})
	}
	if !pattern.Present || (pattern.Known && pattern.S == "") {
		pattern = strProp{S: "Literal", Present: true, Known: true} // upstream's default
	}
	req[keyACLPattern] = pattern
	out := resource.PropertyMap{}
	for k, p := range req {
		keepString(out, k, news, p)
	}
	a := aclSpec{req[keyACLPrincipal].S, req[keyACLHost].S, req[keyACLOperation].S, req[keyACLPermission].S,
		req[keyACLResType].S, req[keyACLResName].S, pattern.S}
	if len(failures) == 0 {
		failures = append(failures, a.validate()...)
	}
	return out, failures
}

func (aclHandler) diff(olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	d := newDiff()
	for _, k := range aclKeys {
		o, _ := getStr(olds, k)
		n, _ := getStr(news, k)
		if k == keyACLPattern {
			if !o.Present {
				o = strProp{S: "Literal", Present: true, Known: true}
			}
			if !n.Present {
				n = strProp{S: "Literal", Present: true, Known: true}
			}
		}
		d.change(string(k), o, n, true)
	}
	return d.response(false)
}

func (aclHandler) create(ctx context.Context, k *kafkaClient, news resource.PropertyMap) (string, resource.PropertyMap, bool, error) {
	a, ok := aclFromProps(news)
	if !ok {
		return "", nil, false, fmt.Errorf("kafka provider: create ACL: inputs are not all known")
	}
	if fs := a.validate(); len(fs) > 0 {
		return "", nil, false, fmt.Errorf("kafka provider: create ACL: %s", fs[0].Reason)
	}
	rs, err := k.adm.CreateACLs(ctx, a.builder())
	if err == nil && len(rs) != 1 {
		err = fmt.Errorf("expected 1 result, got %d", len(rs))
	}
	if err == nil {
		err = withMessage(rs[0].Err, rs[0].ErrMessage)
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("kafka ACL (%s) on %s: creating: %w", a, k.cfg.servers(), err)
	}
	// The authorizer applies new bindings when it replays the metadata log;
	// wait until Kafka describes it, so that dependents can rely on it.
	err = waitFor(ctx, func() (bool, error) { return k.aclExists(ctx, a) })
	if err != nil {
		return a.id(), a.props(), true, fmt.Errorf("kafka ACL (%s) on %s: created, but not visible within the timeout: %w", a, k.cfg.servers(), err)
	}
	return a.id(), a.props(), true, nil
}

func (k *kafkaClient) aclExists(ctx context.Context, a aclSpec) (bool, error) {
	rs, err := k.adm.DescribeACLs(ctx, a.builder())
	if err == nil && len(rs) != 1 {
		err = fmt.Errorf("expected 1 result, got %d", len(rs))
	}
	if err == nil {
		err = withMessage(rs[0].Err, rs[0].ErrMessage)
	}
	if err != nil {
		return false, fmt.Errorf("kafka ACL (%s) on %s: describing: %w", a, k.cfg.servers(), err)
	}
	for _, d := range rs[0].Described {
		if d.Principal == a.Principal && d.Host == a.Host && d.Operation == aclOperations[a.Operation] &&
			d.Permission == aclPermissions[a.Permission] && d.Type == aclResTypes[a.ResType] &&
			d.Name == a.ResName && d.Pattern == aclPatterns[a.Pattern] {
			return true, nil
		}
	}
	return false, nil
}

func (aclHandler) read(ctx context.Context, k *kafkaClient, id string, oldProps, oldInputs resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error) {
	a, ok := aclFromProps(oldProps)
	if !ok {
		if a, ok = aclFromProps(oldInputs); !ok {
			var err error
			if a, err = parseACLID(id); err != nil {
				return "", nil, nil, err
			}
		}
	}
	found, err := k.aclExists(ctx, a)
	if err != nil || !found {
		return "", nil, nil, err
	}
	return a.id(), a.props(), a.props(), nil
}

func (aclHandler) update(_ context.Context, _ *kafkaClient, id string, _, _ resource.PropertyMap) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("kafka provider: ACL %q cannot be updated in place (every change replaces it)", id)
}

func (aclHandler) delete(ctx context.Context, k *kafkaClient, id string, olds resource.PropertyMap) error {
	a, ok := aclFromProps(olds)
	if !ok {
		var err error
		if a, err = parseACLID(id); err != nil {
			return err
		}
	}
	rs, err := k.adm.DeleteACLs(ctx, a.builder())
	if err == nil && len(rs) != 1 {
		err = fmt.Errorf("expected 1 result, got %d", len(rs))
	}
	if err == nil {
		err = withMessage(rs[0].Err, rs[0].ErrMessage)
	}
	if err != nil {
		return fmt.Errorf("kafka ACL (%s) on %s: deleting: %w", a, k.cfg.servers(), err)
	}
	err = waitFor(ctx, func() (bool, error) {
		found, err := k.aclExists(ctx, a)
		return !found, err
	})
	if err != nil {
		return fmt.Errorf("kafka ACL (%s) on %s: deleted, but still described after the timeout: %w", a, k.cfg.servers(), err)
	}
	return nil
}
