package main

// Helpers that read Pulumi property values leniently. The pulumi-kafka Python
// SDK JSON-encodes every non-string provider input ("false", "120",
// "[\"host:9092\"]"), stack config arrives as plain strings, and resource inputs
// arrive typed; all of these readers accept both forms.

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// unwrap strips secret and output wrappers and reports whether the value is
// unknown (computed) anywhere at the top level.
func unwrap(v resource.PropertyValue) (inner resource.PropertyValue, secret, unknown bool) {
	for {
		switch {
		case v.IsSecret():
			secret = true
			v = v.SecretValue().Element
		case v.IsOutput():
			o := v.OutputValue()
			secret = secret || o.Secret
			if !o.Known {
				return v, secret, true
			}
			v = o.Element
		case v.IsComputed():
			return v, secret, true
		default:
			return v, secret, false
		}
	}
}

// isAbsent: missing or null.
func isAbsent(v resource.PropertyValue) bool {
	inner, _, unknown := unwrap(v)
	return !unknown && inner.IsNull()
}

func valueString(v resource.PropertyValue) (string, error) {
	inner, _, _ := unwrap(v)
	switch {
	case inner.IsString():
		return inner.StringValue(), nil
	case inner.IsNumber():
		return formatNumber(inner.NumberValue()), nil
	case inner.IsBool():
		return strconv.FormatBool(inner.BoolValue()), nil
	case inner.IsNull():
		return "", nil
	}
	return "", fmt.Errorf("expected a string, got %s", inner.TypeString())
}

func valueBool(v resource.PropertyValue) (bool, error) {
	inner, _, _ := unwrap(v)
	switch {
	case inner.IsBool():
		return inner.BoolValue(), nil
	case inner.IsString():
		s := strings.TrimSpace(inner.StringValue())
		s = strings.Trim(s, `"`)
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, fmt.Errorf("expected a boolean, got %q", inner.StringValue())
		}
		return b, nil
	}
	return false, fmt.Errorf("expected a boolean, got %s", inner.TypeString())
}

// valueInt accepts integral numbers and strings holding one ("3", "\"3\"", "3.0").
func valueInt(v resource.PropertyValue) (int64, error) {
	inner, _, _ := unwrap(v)
	switch {
	case inner.IsNumber():
		return integral(inner.NumberValue())
	case inner.IsString():
		s := strings.Trim(strings.TrimSpace(inner.StringValue()), `"`)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("expected an integer, got %q", inner.StringValue())
		}
		return integral(f)
	}
	return 0, fmt.Errorf("expected an integer, got %s", inner.TypeString())
}

func integral(f float64) (int64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("expected an integer, got %s", formatNumber(f))
	}
	return int64(f), nil
}

// valueStringList accepts an array of strings, a JSON-encoded array, or a
// comma-separated string.
func valueStringList(v resource.PropertyValue) ([]string, error) {
	inner, _, _ := unwrap(v)
	var out []string
	switch {
	case inner.IsArray():
		for i, e := range inner.ArrayValue() {
			s, err := valueString(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out = append(out, s)
		}
	case inner.IsString():
		s := strings.TrimSpace(inner.StringValue())
		if strings.HasPrefix(s, "[") {
			if err := json.Unmarshal([]byte(s), &out); err != nil {
				return nil, fmt.Errorf("expected a JSON list of strings, got %q: %v", s, err)
			}
		} else {
			out = strings.Split(s, ",")
		}
	default:
		return nil, fmt.Errorf("expected a list of strings, got %s", inner.TypeString())
	}
	cleaned := out[:0]
	for _, s := range out {
		if s = strings.TrimSpace(s); s != "" {
			cleaned = append(cleaned, s)
		}
	}
	return cleaned, nil
}

// formatNumber renders a float64 the way a user wrote it: 604800000, not 6.048e+08.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e18 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// secretIf wraps out as a secret when in (its source) carried one.
func secretIf(in, out resource.PropertyValue) resource.PropertyValue {
	if in.ContainsSecrets() && !out.IsSecret() {
		return resource.MakeSecret(out)
	}
	return out
}
