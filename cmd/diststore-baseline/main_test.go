package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := newHandler("bench-", 3, 100)
	tests := []struct {
		method, path string
		code         int
		body         string
	}{
		{http.MethodGet, "/getlocal/bench-0", http.StatusOK, strings.Repeat("v", 100)},
		{http.MethodGet, "/get/bench-2", http.StatusOK, strings.Repeat("v", 100)},
		{http.MethodGet, "/get/bench-3", http.StatusNotFound, ""},
		{http.MethodGet, "/bench-0", http.StatusNotFound, ""},
		{http.MethodPost, "/get/bench-0", http.StatusNotFound, ""},
		{http.MethodPost, "/w-1", http.StatusOK, "stored\n"},
		{http.MethodPost, "/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.code || (tt.body != "" && rec.Body.String() != tt.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, rec.Code, rec.Body.String(), tt.code, tt.body)
		}
	}
}

func TestRun_RefusesNonLoopback(t *testing.T) {
	err := run([]string{"--addr", "192.0.2.1:8181"})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("run: %v, want a refusal", err)
	}
}
