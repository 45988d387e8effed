package config

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// convert turns an HCL value into flag text, checking its kind.
func convert(kind Kind, v cty.Value) (Value, error) {
	if v.IsNull() || !v.IsKnown() {
		return Value{}, fmt.Errorf("want %s, got null", kind)
	}
	t := v.Type()
	wrong := func() (Value, error) { return Value{}, fmt.Errorf("want %s, got %s", kind, t.FriendlyName()) }
	switch kind {
	case String, List:
		if t == cty.String {
			s := v.AsString()
			if kind == List {
				return Value{Text: s, Items: splitComma(s)}, nil
			}
			return Value{Text: s}, nil
		}
		if !t.IsListType() && !t.IsTupleType() && !t.IsSetType() {
			return wrong()
		}
		var items []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() || e.Type() != cty.String {
				return Value{}, fmt.Errorf("want %s, got a list with a %s", kind, e.Type().FriendlyName())
			}
			items = append(items, e.AsString())
		}
		return Value{Text: strings.Join(items, ","), Items: items}, nil
	case Int, Uint:
		if t != cty.Number {
			return wrong()
		}
		bf := v.AsBigFloat()
		if !bf.IsInt() {
			return Value{}, fmt.Errorf("want %s, got %s", kind, bf.Text('g', 10))
		}
		n, _ := bf.Int(new(big.Int))
		if kind == Uint && n.Sign() < 0 {
			return Value{}, fmt.Errorf("want %s, got %s", kind, n)
		}
		return Value{Text: n.String()}, nil
	case Float:
		if t != cty.Number {
			return wrong()
		}
		f, _ := v.AsBigFloat().Float64()
		return Value{Text: strconv.FormatFloat(f, 'g', -1, 64)}, nil
	case Bool:
		if t != cty.Bool {
			return wrong()
		}
		return Value{Text: strconv.FormatBool(v.True())}, nil
	case Duration:
		if t != cty.String {
			return wrong()
		}
		if _, err := time.ParseDuration(v.AsString()); err != nil {
			return Value{}, fmt.Errorf("want %s, got %q", kind, v.AsString())
		}
		return Value{Text: v.AsString()}, nil
	}
	return wrong()
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
