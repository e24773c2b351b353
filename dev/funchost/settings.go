package funchost

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LocalSettings is local.settings.json as Core Tools reads it.
type LocalSettings struct {
	IsEncrypted bool              `json:"IsEncrypted"`
	Values      map[string]string `json:"Values"`
	Host        struct {
		LocalHTTPPort int `json:"LocalHttpPort"`
	} `json:"Host"`
}

// ReadSettings reads path; a missing file is made from the repository's
// local.settings.sample.json with a fresh TOKEN_CACHE_ENCRYPTION_KEY, and
// created reports so. root is the module root.
func ReadSettings(root, path string) (s *LocalSettings, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		created = true
		b, err = os.ReadFile(filepath.Join(root, "local.settings.sample.json"))
	}
	if err != nil {
		return nil, false, err
	}
	s = &LocalSettings{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	if s.Values == nil {
		s.Values = map[string]string{}
	}
	if s.Host.LocalHTTPPort == 0 {
		s.Host.LocalHTTPPort = 7071
	}
	if created {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		s.Values["TOKEN_CACHE_ENCRYPTION_KEY"] = "local1:" + base64.StdEncoding.EncodeToString(key)
		if err := s.Write(path); err != nil {
			return nil, false, err
		}
	}
	return s, created, nil
}

// Write writes s to path, readable by its owner only: it holds secrets.
func (s *LocalSettings) Write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// Unfilled lists the keys among names whose values are empty or still the
// sample's <placeholders>.
func (s *LocalSettings) Unfilled(names ...string) []string {
	var missing []string
	for _, k := range names {
		if v := s.Values[k]; v == "" || strings.Contains(v, "<") {
			missing = append(missing, k)
		}
	}
	return missing
}
