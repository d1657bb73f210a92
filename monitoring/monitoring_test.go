package monitoring_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/internal/testnode"
)

const (
	dashboardFile = "diststore-dashboard.json"
	rulesFile     = "diststore-alerts.yml"
	rulesTestFile = "diststore-alerts.test.yml"
)

// dashboard is the part of a Grafana dashboard the test checks.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// rules is the part of a Prometheus rule file the test reads.
type rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(data, &raw), "the dashboard is JSON")
	var d dashboard
	require.NoError(t, json.Unmarshal(data, &d))
	return d
}

func readRules(t *testing.T) rules {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	require.NoError(t, err)
	var r rules
	require.NoError(t, yaml.Unmarshal(data, &r))
	return r
}

// TestDashboard_Shape checks what Grafana needs to import the dashboard:
// a title and uid, a schema version, the data source and job variables,
// and panels with unique ids, a place on the grid that overlaps no other,
// the variable's data source and a query each.
func TestDashboard_Shape(t *testing.T) {
	d := readDashboard(t)
	assert.Equal(t, "diststore", d.Title)
	assert.NotEmpty(t, d.UID)
	assert.GreaterOrEqual(t, d.SchemaVersion, 30)
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	assert.Subset(t, vars, []string{"datasource", "job", "instance"})
	require.NotEmpty(t, d.Panels)
	ids := map[int]bool{}
	type cell struct{ x, y int }
	used := map[cell]string{}
	for _, p := range d.Panels {
		assert.NotEmpty(t, p.Title)
		assert.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		assert.Contains(t, []string{"stat", "timeseries", "gauge", "table"}, p.Type, p.Title)
		assert.Equal(t, "prometheus", p.Datasource.Type, p.Title)
		assert.Equal(t, "${datasource}", p.Datasource.UID, p.Title)
		assert.True(t, p.GridPos.W > 0 && p.GridPos.H > 0 && p.GridPos.X+p.GridPos.W <= 24, "%s: gridPos %+v", p.Title, p.GridPos)
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				used[cell{x, y}] = p.Title
			}
		}
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			assert.NotEmpty(t, tg.RefID, p.Title)
			assert.NotEmpty(t, tg.Expr, p.Title)
		}
	}
}

// metricName matches a diststore metric named in a query.
var metricName = regexp.MustCompile(`\bdiststore_[a-z0-9_]+`)

// TestMonitoring_MetricsExist: every diststore_* metric the dashboard and
// the alert rules query is one a node exports, scraped from a real node's
// /metrics after it served a request, refused one and ran its loops.
func TestMonitoring_MetricsExist(t *testing.T) {
	exported := scrape(t)
	used := map[string][]string{} // metric → where
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				used[m] = append(used[m], "dashboard panel "+p.Title)
			}
		}
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				used[m] = append(used[m], "alert "+r.Alert)
			}
		}
	}
	require.NotEmpty(t, used)
	for m, where := range used {
		base := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suffix); ok && exported[b] == "histogram" {
				base = b
			}
		}
		assert.Contains(t, exported, base, "%s, used by %v, is not a metric the node exports", m, where)
	}
	for _, want := range []string{"diststore_master", "diststore_sync_failures_total", "diststore_multicast_datagrams_dropped_total",
		"diststore_http_requests_total", "diststore_http_refused_total"} {
		assert.Contains(t, used, want, "the rules or the dashboard should watch %s", want)
	}
}

// scrape starts a real node with client tokens, has it refuse a request
// and serve others, and returns the metric families of its /metrics by
// name, with their types.
func scrape(t *testing.T) map[string]string {
	t.Helper()
	const token = "monitoring-token-0123456789"
	path := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(path, []byte("ro "+token+"\n"), 0o600))
	tokens, err := httpapi.LoadTokens(path)
	require.NoError(t, err)
	n, err := testnode.Start(testnode.Options{Tokens: tokens})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })

	get := func(path string, auth bool) *http.Response {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		t.Cleanup(cancel)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+path, nil)
		require.NoError(t, err)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	require.Equal(t, http.StatusUnauthorized, get("/status", false).StatusCode)
	require.Equal(t, http.StatusOK, get("/status", true).StatusCode)
	require.Equal(t, http.StatusNotFound, get("/get/nothing", true).StatusCode)
	resp := get("/metrics", true)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	types := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	require.NoError(t, sc.Err())
	return types
}

// TestRules_Promtool runs Prometheus's own checks of the rules: syntax
// and queries (promtool check rules), and the rules' unit tests
// (promtool test rules).
func TestRules_Promtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool not found: it is in Debian's package prometheus (apt-get install prometheus; make test installs it)")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		out, err := exec.CommandContext(ctx, promtool, args...).CombinedOutput()
		cancel()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
		assert.Contains(t, string(out), "SUCCESS", "promtool %s", strings.Join(args, " "))
	}
	// Every alert has a unit test.
	data, err := os.ReadFile(rulesTestFile)
	require.NoError(t, err)
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			assert.True(t, slices.Contains(strings.Fields(string(data)), r.Alert), "alert %s has no test in %s", r.Alert, rulesTestFile)
		}
	}
}
