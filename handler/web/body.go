package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/addinsso/addinsso/handler/problem"
)

// ReadBody reads r's whole body, at most max bytes. Errors are problems.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, problem.New(problem.BadRequest, "The request body could not be read.").WithCause(err)
	}
	if int64(len(b)) > max {
		return nil, problem.New(problem.RequestTooLarge, "The request body is larger than %d bytes.", max)
	}
	return b, nil
}

// DecodeJSON decodes b, which must hold exactly one JSON value, into v;
// strict refuses members v does not name. shape is what the body should look
// like, for the message; the message describes what is wrong without echoing
// the body.
func DecodeJSON(b []byte, v any, strict bool, shape string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return problem.New(problem.BadRequest, "The body is not %s: %s.", shape, describeJSON(err))
	}
	if dec.More() {
		return problem.New(problem.BadRequest, "The body holds more than one JSON value.")
	}
	return nil
}

func describeJSON(err error) string {
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case errors.As(err, &typ) && typ.Field != "":
		return "member " + typ.Field + " has the wrong type"
	case errors.As(err, &typ):
		return "it is not a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return fmt.Sprintf("%.80s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return "malformed JSON"
}
