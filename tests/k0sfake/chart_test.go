package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func capture(t *testing.T, version, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", version, name))
	require.NoError(t, err)
	return string(b)
}

// TestChartObjectsAreLaidOutAsK0sDoes pins the fake's Chart (made from a k0s.yaml entry) to
// the one a real k0s made from the same entry (capture chart-failed.json, its k0s.yaml
// config-k0s.yaml), for every version captured; and the versions the fake speaks are the
// versions captured.
func TestChartObjectsAreLaidOutAsK0sDoes(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	require.NoError(t, err)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	assert.Equal(t, dirs, sortedVersions(), "a capture directory per version the fake speaks")
	for _, version := range dirs {
		t.Run(version, func(t *testing.T) { pinChart(t, version) })
	}
}

func pinChart(t *testing.T, version string) {
	capture := func(t *testing.T, name string) string { t.Helper(); return capture(t, version, name) }
	var cfg struct {
		Spec struct {
			Extensions struct {
				Helm struct {
					Repositories []map[string]any `yaml:"repositories"`
					Charts       []map[string]any `yaml:"charts"`
				} `yaml:"helm"`
			} `yaml:"extensions"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(capture(t, "config-k0s.yaml")), &cfg))
	require.Len(t, cfg.Spec.Extensions.Helm.Charts, 1)
	got := chartObject(cfg.Spec.Extensions.Helm.Charts[0], cfg.Spec.Extensions.Helm.Repositories[0]["url"].(string), versions[version])
	var want map[string]any
	require.NoError(t, json.Unmarshal([]byte(capture(t, "chart-failed.json")), &want))
	wantMeta := want["metadata"].(map[string]any)
	gotMeta := got["metadata"].(map[string]any)
	for _, k := range []string{"name", "namespace", "finalizers", "labels"} {
		assert.Equal(t, wantMeta[k], gotMeta[k], "metadata.%s", k)
	}
	assert.Equal(t, want["spec"], got["spec"])
}
