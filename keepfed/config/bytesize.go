package config

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ByteSize is a number of bytes written in config files as an integer or
// as an Arvados size string: a number (integer or decimal, as in JSON),
// optional spaces, then a unit K, M, G, T, P, E (powers of 1000) or Ki, Mi,
// Gi, Ti, Pi, Ei (powers of 1024), optionally followed by "B": "10GiB",
// "500MB", "1T", "1.5 Gi".
type ByteSize int64

// unitValues are the multipliers of the size units, without the "B".
var unitValues = map[string]int64{
	"": 1, "K": 1e3, "Ki": 1 << 10, "M": 1e6, "Mi": 1 << 20, "G": 1e9, "Gi": 1 << 30,
	"T": 1e12, "Ti": 1 << 40, "P": 1e15, "Pi": 1 << 50, "E": 1e18, "Ei": 1 << 60,
}

// ParseByteSize parses an integer or an Arvados size string (see
// ByteSize). Negative sizes and sizes beyond int64 are errors.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) {
		c := t[i]
		if c >= '0' && c <= '9' || c == '.' || c == '+' || c == '-' || c == 'e' {
			i++
			continue
		}
		// "E" starts an exponent only when a sign or digit follows;
		// otherwise it is the exa unit ("4E", "4EiB")
		if c == 'E' && i+1 < len(t) && (t[i+1] >= '0' && t[i+1] <= '9' || t[i+1] == '+' || t[i+1] == '-') {
			i++
			continue
		}
		break
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, fmt.Errorf("invalid byte size %q: no number", s)
	}
	unit = strings.TrimSuffix(unit, "B")
	mult, ok := unitValues[unit]
	if !ok {
		return 0, fmt.Errorf("invalid byte size %q: unknown unit %q", s, unit)
	}
	if v, err := strconv.ParseInt(num, 10, 64); err == nil {
		if v < 0 {
			return 0, fmt.Errorf("invalid byte size %q: negative", s)
		}
		if v > math.MaxInt64/mult {
			return 0, fmt.Errorf("byte size %q overflows int64", s)
		}
		return v * mult, nil
	}
	f, ok := new(big.Float).SetString(num)
	if !ok || !strings.ContainsAny(num, "0123456789") {
		return 0, fmt.Errorf("invalid byte size %q: bad number %q", s, num)
	}
	if f.Sign() < 0 {
		return 0, fmt.Errorf("invalid byte size %q: negative", s)
	}
	f.Mul(f, new(big.Float).SetInt64(mult))
	v, acc := f.Int64()
	if acc == big.Above || (acc == big.Below && v == math.MaxInt64) {
		return 0, fmt.Errorf("byte size %q overflows int64", s)
	}
	return v, nil
}

// UnmarshalYAML accepts an integer or a size string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: byte size must be a number or a string like \"10GiB\"", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = ByteSize(v)
	return nil
}
