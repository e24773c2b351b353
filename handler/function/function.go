// Package function serves a Function's route exactly as its function.json
// declares it, so the routes the Functions host forwards and the routes the
// binary answers come from one source.
package function

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"
)

// RoutePrefix is host.json's extensions.http.routePrefix.
const RoutePrefix = "api"

// Definition is what the handler needs from a function.json.
type Definition struct {
	Name    string   // the function's folder
	Route   string   // the httpTrigger route template, e.g. graph/{*path}
	Methods []string // upper case
}

// Parse reads the httpTrigger binding of a function.json. A forwarded Function
// must have exactly one httpTrigger input and one http output.
func Parse(name string, functionJSON []byte) (Definition, error) {
	var doc struct {
		Bindings []struct {
			Type      string   `json:"type"`
			Direction string   `json:"direction"`
			Route     string   `json:"route"`
			Methods   []string `json:"methods"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(functionJSON, &doc); err != nil {
		return Definition{}, fmt.Errorf("%s/function.json: %w", name, err)
	}
	d := Definition{Name: name}
	var triggers, outputs int
	for _, b := range doc.Bindings {
		switch {
		case b.Type == "httpTrigger" && b.Direction == "in":
			triggers++
			d.Route = b.Route
			for _, m := range b.Methods {
				d.Methods = append(d.Methods, strings.ToUpper(m))
			}
		case b.Type == "http" && b.Direction == "out":
			outputs++
		default:
			return Definition{}, fmt.Errorf("%s/function.json: binding %s/%s cannot be forwarded to a custom handler", name, b.Type, b.Direction)
		}
	}
	if triggers != 1 || outputs != 1 || d.Route == "" || len(d.Methods) == 0 {
		return Definition{}, errors.New(name + "/function.json: need one httpTrigger with a route and methods, and one http output")
	}
	return d, nil
}

// Path is the echo path for the route: /api/ + the route, with a trailing
// catch-all {*name} becoming echo's *.
func (d Definition) Path() (string, error) {
	segs := strings.Split(d.Route, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, "{*") && strings.HasSuffix(s, "}") && i == len(segs)-1:
			segs[i] = "*"
		case strings.ContainsAny(s, "{}*"):
			return "", fmt.Errorf("%s: route segment %q is not supported", d.Name, s)
		}
	}
	return "/" + RoutePrefix + "/" + strings.Join(segs, "/"), nil
}

// Mount serves h on the Function's route for each of its methods.
func Mount(e *echo.Echo, name string, functionJSON []byte, h echo.HandlerFunc, m ...echo.MiddlewareFunc) error {
	d, err := Parse(name, functionJSON)
	if err != nil {
		return err
	}
	path, err := d.Path()
	if err != nil {
		return err
	}
	e.Match(d.Methods, path, h, m...)
	return nil
}
