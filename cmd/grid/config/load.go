package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// Kind is the type a key's value must have.
type Kind int

// The kinds of values a key can take; they follow the flag types.
const (
	String   Kind = iota // a string; a list of strings is joined with ","
	Int                  // a whole number
	Uint                 // a whole number >= 0
	Float                // a number
	Bool                 // true or false
	Duration             // a Go duration string ("5s", "10m")
	List                 // a list of strings (a single string is one element)
)

func (k Kind) String() string {
	return [...]string{"a string", "a whole number", "a whole number >= 0", "a number", "true or false", "a duration string such as \"5s\"", "a list of strings"}[k]
}

// Schema maps each key (flag name with _ for -) to its kind.
type Schema map[string]Kind

// Value is one key's value as the flag would take it, and where it was set.
type Value struct {
	// Text is the value in flag syntax (lists joined with ",").
	Text string
	// Items is a list value's elements (nil for other kinds).
	Items []string
	// Where is "file:line" of the key.
	Where string
}

// Values are the merged keys of the files read.
type Values map[string]Value

// Files expands paths (files or directories) into the files to read, in
// order: a directory gives its *.hcl and *.json files in lexical order.
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", p, err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", p, err)
		}
		var names []string
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".hcl" || ext == ".json") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, filepath.Join(p, n))
		}
	}
	return out, nil
}

// Load reads files (HCL unless the name ends in .json) and merges them in
// order: a later file's key replaces an earlier one. Every key must be in
// schema with the right kind.
func Load(files []string, schema Schema) (Values, error) {
	out := Values{}
	for _, f := range files {
		vals, err := LoadFile(f, schema)
		if err != nil {
			return nil, err
		}
		for k, v := range vals {
			out[k] = v
		}
	}
	return out, nil
}

// LoadFile reads one HCL or JSON file.
func LoadFile(path string, schema Schema) (Values, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	var file *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(path, ".json") {
		file, diags = hcljson.Parse(src, path)
	} else {
		file, diags = hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	}
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	out := Values{}
	if body, ok := file.Body.(*hclsyntax.Body); ok {
		if err := readSyntaxBody(body, "", schema, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	attrs, diags := file.Body.JustAttributes()
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	if err := readAttributes(attrs, "", schema, out); err != nil {
		return nil, err
	}
	return out, nil
}

// readSyntaxBody reads an HCL body: attributes are keys, a block `name {}`
// prefixes its keys with "name_"; a block may appear once.
func readSyntaxBody(body *hclsyntax.Body, prefix string, schema Schema, out Values) error {
	for name, attr := range body.Attributes {
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() {
			return diagError(diags)
		}
		if err := setValue(prefix+name, v, attr.NameRange, schema, out); err != nil {
			return err
		}
	}
	seen := map[string]hcl.Range{}
	for _, b := range body.Blocks {
		if len(b.Labels) > 0 {
			return fmt.Errorf("%s: block %q: labels are not allowed", where(b.LabelRanges[0]), b.Type)
		}
		if first, dup := seen[b.Type]; dup {
			return fmt.Errorf("%s: duplicate block %q (first at line %d)", where(b.TypeRange), prefix+b.Type, first.Start.Line)
		}
		seen[b.Type] = b.TypeRange
		if !hasPrefix(schema, prefix+b.Type+"_") {
			return fmt.Errorf("%s: unknown block %q", where(b.TypeRange), prefix+b.Type)
		}
		if err := readSyntaxBody(b.Body, prefix+b.Type+"_", schema, out); err != nil {
			return err
		}
	}
	return nil
}

// readAttributes reads JSON attributes; an object value is a block.
func readAttributes(attrs hcl.Attributes, prefix string, schema Schema, out Values) error {
	for name, attr := range attrs {
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() {
			return diagError(diags)
		}
		if v.Type().IsObjectType() && hasPrefix(schema, prefix+name+"_") {
			for inner, iv := range v.AsValueMap() {
				if err := setValue(prefix+name+"_"+inner, iv, attr.NameRange, schema, out); err != nil {
					return err
				}
			}
			continue
		}
		if err := setValue(prefix+name, v, attr.NameRange, schema, out); err != nil {
			return err
		}
	}
	return nil
}

func hasPrefix(schema Schema, p string) bool {
	for k := range schema {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func where(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// diagError is the first error diagnostic as "file:line: summary: detail".
func diagError(diags hcl.Diagnostics) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject != nil {
			return fmt.Errorf("%s: %s", where(*d.Subject), msg)
		}
		return errors.New(msg)
	}
	return errors.New(diags.Error())
}

// setValue checks v against the key's kind and stores it.
func setValue(key string, v cty.Value, r hcl.Range, schema Schema, out Values) error {
	kind, ok := schema[key]
	if !ok || key == "config" {
		return fmt.Errorf("%s: unknown key %q (keys are the command's flag names with _ for -)", where(r), key)
	}
	val, err := convert(kind, v)
	if err != nil {
		return fmt.Errorf("%s: key %q: %v", where(r), key, err)
	}
	val.Where = where(r)
	out[key] = val
	return nil
}
