package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const runJSON = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:1: quiet\n"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.1}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:2: broken\n"}
{"Action":"fail","Package":"p","Test":"TestB","Elapsed":0.2}
{"Action":"run","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: no tool\n"}
{"Action":"skip","Package":"p","Test":"TestC","Elapsed":0}
{"Action":"fail","Package":"p","Elapsed":0.5}
not json: a vet line
{"Action":"output","Package":"q","Output":"integration tests cannot run: no unshare\n"}
{"Action":"fail","Package":"q","Elapsed":0.01}
{"Action":"pass","Package":"r","Elapsed":0.01}
`

func TestFilter_PrintsFailuresAndSkipsOnly(t *testing.T) {
	var out bytes.Buffer
	c, err := filter(strings.NewReader(runJSON), &out)
	require.NoError(t, err)
	assert.Equal(t, 1, c.passed)
	assert.Equal(t, 1, c.failed)
	assert.Equal(t, 1, c.skipped)
	assert.Equal(t, []string{"q"}, c.failedPackages)
	s := out.String()
	assert.NotContains(t, s, "quiet", "a passing test's output")
	assert.Contains(t, s, "broken")
	assert.Contains(t, s, "no tool")
	assert.Contains(t, s, "not json: a vet line")
	assert.Contains(t, s, "integration tests cannot run: no unshare")
	assert.Contains(t, s, "FAIL\tp\t0.500s")
	assert.Contains(t, s, "ok  \tr\t0.010s")
}

func TestSummarize(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	good := write("good.json", `{"Action":"pass","Package":"r","Test":"TestX"}
{"Action":"pass","Package":"r","Test":"TestY"}
{"Action":"pass","Package":"r"}
`)
	bad := write("bad.json", runJSON)
	for _, tc := range []struct {
		name  string
		files []string
		line  string
		code  int
	}{
		{"all passed", []string{good}, "2 passed, 0 failed, 0 skipped\n", 0},
		{"a failure, a skip and a package that failed outside its tests",
			[]string{good, bad}, "package q failed outside any test\n3 passed, 2 failed, 1 skipped\n", 1},
		{"no file", nil, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := summarize(&out, &errOut, tc.files)
			assert.Equal(t, tc.code, code, errOut.String())
			assert.Equal(t, tc.line, out.String())
		})
	}
}

func TestSummarize_SkipAloneFails(t *testing.T) {
	p := filepath.Join(t.TempDir(), "skip.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"Action":"skip","Package":"r","Test":"TestZ"}`+"\n"), 0o644))
	var out bytes.Buffer
	assert.Equal(t, 1, summarize(&out, &out, []string{p}))
	assert.Equal(t, "0 passed, 0 failed, 1 skipped\n", out.String())
}
