package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var jsonMarshal = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// printJSON writes v as indented JSON. Proto messages use their snake_case
// field names, and 64-bit integers stay JSON numbers (protojson writes them
// as strings), as the REST API does.
func printJSON(v any) error {
	if m, ok := v.(proto.Message); ok {
		b, err := protoJSON(m, jsonMarshal)
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return err
		}
		_, err = fmt.Fprintln(os.Stdout, out.String())
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// protoJSON marshals m with opts and turns its 64-bit integer fields back
// into JSON numbers.
func protoJSON(m proto.Message, opts protojson.MarshalOptions) ([]byte, error) {
	b, err := opts.Marshal(m)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	tree = numbers(tree, m.ProtoReflect().Descriptor())
	return json.Marshal(tree)
}

// numbers walks a protojson tree along md, replacing the quoted values of
// 64-bit integer fields with numbers.
func numbers(v any, md protoreflect.MessageDescriptor) any {
	obj, ok := v.(map[string]any)
	if !ok || md.FullName().Parent() == "google.protobuf" {
		return v
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		val, ok := obj[string(fd.Name())]
		if !ok {
			if val, ok = obj[fd.JSONName()]; !ok {
				continue
			}
		}
		key := string(fd.Name())
		if _, has := obj[key]; !has {
			key = fd.JSONName()
		}
		switch {
		case fd.IsMap():
			if mv, ok := val.(map[string]any); ok {
				for k, e := range mv {
					mv[k] = fieldValue(e, fd.MapValue())
				}
			}
		case fd.IsList():
			if lv, ok := val.([]any); ok {
				for j, e := range lv {
					lv[j] = fieldValue(e, fd)
				}
			}
		default:
			obj[key] = fieldValue(val, fd)
		}
	}
	return obj
}

// fieldValue converts one value of field fd.
func fieldValue(v any, fd protoreflect.FieldDescriptor) any {
	switch fd.Kind() {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if s, ok := v.(string); ok {
			return json.Number(s)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return numbers(v, fd.Message())
	}
	return v
}
