// Parses 1Password secret references (op://vault/item[/section]/field), the only syntax the stand-in accepts.
package main

import (
	"fmt"
	"strings"
)

// reference is one parsed op:// value; Section is empty when the reference has three parts.
type reference struct {
	Vault, Item, Section, Field string
}

const scheme = "op://"

// isReference says whether an environment value is meant for op (the real op resolves only
// values that are a whole reference, so a value merely containing op:// is left alone).
func isReference(value string) bool {
	return strings.HasPrefix(value, scheme)
}

func parseReference(value string) (reference, error) {
	rest, ok := strings.CutPrefix(value, scheme)
	if !ok {
		return reference{}, fmt.Errorf("%q is not a secret reference (it must start with %s)", value, scheme)
	}
	if strings.ContainsAny(rest, "?#") {
		// Query attributes (?attribute=otp, ?ssh-format=...) change what is returned; a test that
		// needs them should fail loudly here rather than get the plain value.
		return reference{}, fmt.Errorf("%q: query attributes are not supported by the op stand-in", value)
	}
	parts := strings.Split(rest, "/")
	for _, part := range parts {
		if part == "" {
			return reference{}, fmt.Errorf("%q has an empty segment; expected op://vault/item/[section/]field", value)
		}
	}
	switch len(parts) {
	case 3:
		return reference{Vault: parts[0], Item: parts[1], Field: parts[2]}, nil
	case 4:
		return reference{Vault: parts[0], Item: parts[1], Section: parts[2], Field: parts[3]}, nil
	default:
		return reference{}, fmt.Errorf("%q has %d segments; expected op://vault/item/[section/]field", value, len(parts))
	}
}

// isID matches Connect's ids (26 characters of [a-z0-9]); anything else can only be a name.
func isID(value string) bool {
	if len(value) != 26 {
		return false
	}
	for _, r := range value {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
