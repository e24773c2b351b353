package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/handler/config"
)

// loadSettings reads the settings the handler would start with: the Values of
// local.settings.json (what func start gives it), or the environment when
// that file does not exist. It never writes the file.
func loadSettings(path string, r *report) (*config.Config, bool) {
	var s funchost.LocalSettings
	b, err := os.ReadFile(path)
	lookup := os.LookupEnv
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.Checked = append(r.Checked, "settings: the environment ("+path+" does not exist)")
	case err != nil:
		r.add(settingsInvalid(err))
		return nil, false
	default:
		if err := json.Unmarshal(b, &s); err != nil {
			r.add(settingsInvalid(fmt.Errorf("%s: %w", path, err)))
			return nil, false
		}
		lookup = func(k string) (string, bool) { v, ok := s.Values[k]; return v, ok }
		r.Checked = append(r.Checked, "settings: "+path)
	}
	cfg, err := config.Load(lookup)
	if err != nil {
		r.add(settingsInvalid(err))
		return nil, false
	}
	return cfg, true
}

func settingsInvalid(err error) Finding {
	return Finding{
		ID: "settings.invalid", Severity: Error,
		What:    err.Error(),
		Symptom: "the handler refuses to start (\"configuration error: ...\"), so every /api call fails; nothing else can be checked",
		Fix:     "correct the setting in local.settings.json (or the Function App's settings); README, Configuration",
	}
}
