package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// writeJSON writes v as the JSON response body with the given status.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing useful to do
}

// decodeJSON reads exactly one JSON object from the request body into dst,
// refusing unknown fields, wrong types, trailing data and bodies larger than
// Config.MaxBodyBytes. An empty body is an error unless allowEmpty is set, in
// which case dst keeps its zero value.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) && allowEmpty {
			return nil
		}
		return describeDecodeError(err, s.cfg.MaxBodyBytes)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: limit is %d bytes", ErrBodyTooLarge, s.cfg.MaxBodyBytes)
		}
		return invalidf("request body must hold a single JSON object, found more data after it")
	}
	return nil
}

// describeDecodeError turns an encoding/json error into a message naming the
// problem and where it is.
func describeDecodeError(err error, limit int64) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		mbe       *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return fmt.Errorf("%w: limit is %d bytes", ErrBodyTooLarge, limit)
	case errors.Is(err, io.EOF):
		return invalidf("request body is empty; expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidf("malformed JSON: body ends in the middle of a value")
	case errors.As(err, &syntaxErr):
		return invalidf("malformed JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return invalidf("request body must be a JSON object, got %s", typeErr.Value)
		}
		return invalidf("field %q: expected %s, got %s", typeErr.Field, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalidf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return invalidf("malformed JSON: %s", err.Error())
	}
}

// jsonTypeName names a Go kind the way a JSON client thinks of it.
func jsonTypeName(kind string) string {
	switch kind {
	case "uint8", "uint16", "uint32", "uint64", "uint":
		return "a non-negative integer"
	case "int8", "int16", "int32", "int64", "int":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	default:
		return kind
	}
}
