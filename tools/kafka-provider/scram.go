package main

// kafka:index/userScramCredential:UserScramCredential — one SCRAM credential
// (user + mechanism). username and scramMechanism replace; password,
// passwordWo (through passwordWoVersion) and scramIterations update in place.
//
// ID: "<username>|<scramMechanism>". Import (upstream's formats):
// "<username>|<scramMechanism>" or "<username>|<scramMechanism>|<password>".
//
// The password never appears in logs or error messages. `password` is kept
// in the outputs as a secret (as upstream keeps it in its state);
// `passwordWo` is write-only: it is never returned in the outputs.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

const scramType = "kafka:index/userScramCredential:UserScramCredential"

const (
	keyScramUser       = resource.PropertyKey("username")
	keyScramMechanism  = resource.PropertyKey("scramMechanism")
	keyScramIterations = resource.PropertyKey("scramIterations")
	keyScramPassword   = resource.PropertyKey("password")
	keyScramPasswordWo = resource.PropertyKey("passwordWo")
	keyScramWoVersion  = resource.PropertyKey("passwordWoVersion")
)

const (
	defaultScramIterations = 4096 // upstream's default
	maxScramIterations     = 16384
)

var scramMechanisms = map[string]kadm.ScramMechanism{"SCRAM-SHA-256": kadm.ScramSha256, "SCRAM-SHA-512": kadm.ScramSha512}

type scramSpec struct {
	User       string
	Mechanism  string
	Iterations int64
	Password   string // from password, else passwordWo; never logged
}

func (s scramSpec) id() string { return s.User + "|" + s.Mechanism }

func (s scramSpec) String() string { return fmt.Sprintf("user %q, %s", s.User, s.Mechanism) }

func parseScramID(id string) (scramSpec, bool, error) {
	parts := strings.Split(id, "|")
	if len(parts) != 2 && len(parts) != 3 {
		return scramSpec{}, false, fmt.Errorf("kafka provider: SCRAM credential ID: expected the format username|scram_mechanism "+
			"(or, legacy, username|scram_mechanism|password), got %d segments instead of 2 or 3", len(parts))
	}
	s := scramSpec{User: parts[0], Mechanism: parts[1], Iterations: defaultScramIterations}
	if _, ok := scramMechanisms[s.Mechanism]; !ok || s.User == "" {
		return scramSpec{}, false, fmt.Errorf("kafka provider: SCRAM credential ID: expected username|SCRAM-SHA-256 or username|SCRAM-SHA-512 (user %q, mechanism %q)", s.User, s.Mechanism)
	}
	if len(parts) == 3 {
		s.Password = parts[2]
		return s, true, nil
	}
	return s, false, nil
}

func scramFromProps(m resource.PropertyMap) (scramSpec, error) {
	u, _ := getStr(m, keyScramUser)
	mech, _ := getStr(m, keyScramMechanism)
	s := scramSpec{User: u.S, Mechanism: mech.S, Iterations: defaultScramIterations}
	if v, ok := m[keyScramIterations]; ok && !isAbsent(v) {
		n, err := valueInt(v)
		if err != nil {
			return s, fmt.Errorf("scramIterations: %v", err)
		}
		s.Iterations = n
	}
	pw, _ := getStr(m, keyScramPassword)
	wo, _ := getStr(m, keyScramPasswordWo)
	s.Password = pw.S
	if s.Password == "" {
		s.Password = wo.S
	}
	return s, nil
}

type scramHandler struct{}

func (scramHandler) check(_ *pulumirpc.CheckRequest, _, news resource.PropertyMap) (resource.PropertyMap, []configFailure) {
	req, failures := requiredStrings(news, keyScramUser, keyScramMechanism)
	failures = append(failures, oneOf(keyScramMechanism, req[keyScramMechanism], names(scramMechanisms))...)
	out := resource.PropertyMap{}
	keepString(out, keyScramUser, news, req[keyScramUser])
	keepString(out, keyScramMechanism, news, req[keyScramMechanism])

	// scramIterations: integer, default 4096, at least 4096 (upstream), at
	// most 16384 (Kafka's limit).
	if v, ok := news[keyScramIterations]; ok && !isAbsent(v) {
		if _, _, unk := unwrap(v); unk {
			out[keyScramIterations] = v
		} else if n, err := valueInt(v); err != nil {
			failures = append(failures, configFailure{string(keyScramIterations), fmt.Sprintf("scramIterations: %v", err)})
		} else if n < defaultScramIterations || n > maxScramIterations {
			failures = append(failures, configFailure{string(keyScramIterations),
				fmt.Sprintf("scramIterations must be between %d and %d, got %d", defaultScramIterations, maxScramIterations, n)})
		} else {
			out[keyScramIterations] = secretIf(v, resource.NewProperty(float64(n)))
		}
	} else {
		out[keyScramIterations] = resource.NewProperty(float64(defaultScramIterations))
	}

	// Passwords: exactly one of password / passwordWo, not blank. Both are
	// secrets whatever the program sent.
	var present []string
	for _, k := range []resource.PropertyKey{keyScramPassword, keyScramPasswordWo} {
		p, err := getStr(news, k)
		if err != nil {
			failures = append(failures, configFailure{string(k), fmt.Sprintf("%s must be a string", k)})
			continue
		}
		if !p.Present {
			continue
		}
		if p.Known && strings.TrimSpace(p.S) == "" {
			failures = append(failures, configFailure{string(k), fmt.Sprintf("%s must not be empty or whitespace", k)})
			continue
		}
		present = append(present, string(k))
		if p.Known {
			out[k] = resource.MakeSecret(resource.NewProperty(p.S))
		} else if v := news[k]; v.IsSecret() {
			out[k] = v
		} else {
			out[k] = resource.MakeSecret(v)
		}
	}
	switch len(present) {
	case 0:
		failures = append(failures, configFailure{string(keyScramPassword), "either 'password' or 'passwordWo' must be specified"})
	case 2:
		failures = append(failures, configFailure{string(keyScramPassword), "'password' conflicts with 'passwordWo': set only one of them"})
	}
	if p, err := getStr(news, keyScramWoVersion); err != nil {
		failures = append(failures, configFailure{string(keyScramWoVersion), err.Error()})
	} else {
		keepString(out, keyScramWoVersion, news, p)
	}
	return out, failures
}

func (scramHandler) diff(olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	d := newDiff()
	for _, k := range []resource.PropertyKey{keyScramUser, keyScramMechanism} {
		o, _ := getStr(olds, k)
		n, _ := getStr(news, k)
		d.change(string(k), o, n, true)
	}
	// password and passwordWoVersion: in place. passwordWo is write-only:
	// a change of it alone is no change (upstream: bump passwordWoVersion).
	for _, k := range []resource.PropertyKey{keyScramPassword, keyScramWoVersion, keyScramIterations} {
		o, _ := getStr(olds, k)
		n, _ := getStr(news, k)
		if k == keyScramIterations && !o.Present {
			o = strProp{S: fmt.Sprint(defaultScramIterations), Present: true, Known: true}
		}
		d.change(string(k), o, n, false)
	}
	return d.response(false)
}

// outputs: the inputs minus the write-only passwordWo; password secret.
func scramOutputs(s scramSpec, news resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{
		keyScramUser:       resource.NewProperty(s.User),
		keyScramMechanism:  resource.NewProperty(s.Mechanism),
		keyScramIterations: resource.NewProperty(float64(s.Iterations)),
	}
	if p, _ := getStr(news, keyScramPassword); p.Present && p.Known {
		out[keyScramPassword] = resource.MakeSecret(resource.NewProperty(p.S))
	}
	if p, _ := getStr(news, keyScramWoVersion); p.Present && p.Known {
		out[keyScramWoVersion] = resource.NewProperty(p.S)
	}
	return out
}

func (k *kafkaClient) upsertScram(ctx context.Context, s scramSpec, what string) error {
	if s.Password == "" {
		return fmt.Errorf("kafka SCRAM credential (%s) on %s: %s: no password (password or passwordWo) is set", s, k.cfg.servers(), what)
	}
	rs, err := k.adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User: s.User, Mechanism: scramMechanisms[s.Mechanism], Iterations: int32(s.Iterations), Password: s.Password,
	}})
	if err == nil {
		r, ok := rs[s.User]
		if !ok {
			err = fmt.Errorf("no result for the user in the response")
		} else {
			err = withMessage(r.Err, r.ErrMessage)
		}
	}
	if err != nil {
		return fmt.Errorf("kafka SCRAM credential (%s) on %s: %s: %w", s, k.cfg.servers(), what, err)
	}
	return nil
}

// describeScram returns the iterations of the credential; found=false if
// the user has no credential of that mechanism.
func (k *kafkaClient) describeScram(ctx context.Context, s scramSpec) (int64, bool, error) {
	rs, err := k.adm.DescribeUserSCRAMs(ctx, s.User)
	if err == nil {
		r, ok := rs[s.User]
		if !ok {
			return 0, false, nil
		}
		if errors.Is(r.Err, kerr.ResourceNotFound) {
			return 0, false, nil
		}
		if err = withMessage(r.Err, r.ErrMessage); err == nil {
			for _, ci := range r.CredInfos {
				if ci.Mechanism == scramMechanisms[s.Mechanism] {
					return int64(ci.Iterations), true, nil
				}
			}
			return 0, false, nil
		}
	}
	if errors.Is(err, kerr.ResourceNotFound) {
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("kafka SCRAM credential (%s) on %s: describing: %w", s, k.cfg.servers(), err)
}

func (k *kafkaClient) awaitScram(ctx context.Context, s scramSpec, exists bool) error {
	return waitFor(ctx, func() (bool, error) {
		it, found, err := k.describeScram(ctx, s)
		if !exists {
			return !found, err
		}
		return found && it == s.Iterations, err
	})
}

func (scramHandler) create(ctx context.Context, k *kafkaClient, news resource.PropertyMap) (string, resource.PropertyMap, bool, error) {
	s, err := scramFromProps(news)
	if err != nil {
		return "", nil, false, fmt.Errorf("kafka provider: create SCRAM credential: %v", err)
	}
	if _, ok := scramMechanisms[s.Mechanism]; !ok || s.User == "" {
		return "", nil, false, fmt.Errorf("kafka provider: create SCRAM credential: username and scramMechanism must be known")
	}
	if err := k.upsertScram(ctx, s, "creating"); err != nil {
		return "", nil, false, err
	}
	if err := k.awaitScram(ctx, s, true); err != nil {
		return s.id(), scramOutputs(s, news), true, fmt.Errorf("kafka SCRAM credential (%s) on %s: created, but not described within the timeout: %w", s, k.cfg.servers(), err)
	}
	return s.id(), scramOutputs(s, news), true, nil
}

func (scramHandler) read(ctx context.Context, k *kafkaClient, id string, oldProps, oldInputs resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error) {
	var s scramSpec
	var err error
	state := oldProps
	if u, _ := getStr(oldProps, keyScramUser); u.S == "" {
		state = oldInputs
	}
	if u, _ := getStr(state, keyScramUser); u.S != "" {
		if s, err = scramFromProps(state); err != nil {
			return "", nil, nil, err
		}
	} else {
		var withPassword bool
		if s, withPassword, err = parseScramID(id); err != nil {
			return "", nil, nil, err
		}
		state = resource.PropertyMap{}
		if withPassword {
			state[keyScramPassword] = resource.MakeSecret(resource.NewProperty(s.Password))
		}
	}
	it, found, err := k.describeScram(ctx, s)
	if err != nil || !found {
		return "", nil, nil, err
	}
	s.Iterations = it
	outs := scramOutputs(s, state)
	inputs := scramOutputs(s, state)
	if v, ok := oldInputs[keyScramPasswordWo]; ok && !isAbsent(v) {
		inputs[keyScramPasswordWo] = resource.MakeSecret(v)
		if v.IsSecret() {
			inputs[keyScramPasswordWo] = v
		}
	}
	return s.id(), outs, inputs, nil
}

func (scramHandler) update(ctx context.Context, k *kafkaClient, id string, _, news resource.PropertyMap) (resource.PropertyMap, error) {
	s, err := scramFromProps(news)
	if err != nil {
		return nil, fmt.Errorf("kafka provider: update SCRAM credential %q: %v", id, err)
	}
	if err := k.upsertScram(ctx, s, "updating"); err != nil {
		return nil, err
	}
	if err := k.awaitScram(ctx, s, true); err != nil {
		return nil, fmt.Errorf("kafka SCRAM credential (%s) on %s: updated, but not described within the timeout: %w", s, k.cfg.servers(), err)
	}
	return scramOutputs(s, news), nil
}

func (scramHandler) delete(ctx context.Context, k *kafkaClient, id string, olds resource.PropertyMap) error {
	s, err := scramFromProps(olds)
	if err != nil || s.User == "" {
		if s, _, err = parseScramID(id); err != nil {
			return err
		}
	}
	rs, err := k.adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: s.User, Mechanism: scramMechanisms[s.Mechanism]}}, nil)
	if err == nil {
		if r, ok := rs[s.User]; ok {
			err = withMessage(r.Err, r.ErrMessage)
		}
	}
	if err != nil && !errors.Is(err, kerr.ResourceNotFound) {
		return fmt.Errorf("kafka SCRAM credential (%s) on %s: deleting: %w", s, k.cfg.servers(), err)
	}
	if err := k.awaitScram(ctx, s, false); err != nil {
		return fmt.Errorf("kafka SCRAM credential (%s) on %s: deleted, but still described after the timeout: %w", s, k.cfg.servers(), err)
	}
	return nil
}
