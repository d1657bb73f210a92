//go:build figures

package integration

// Tests that only produce figures for docs/ (durability, performance) and take longer than a
// test of make test should; make faults runs them (-tags figures).

import (
	"fmt"
	"strings"
	"testing"
)

// TestFault_FailoverFigures100k preloads 100k keys. To keep it within about
// a minute, the checker reads every key from the masters' /getlocal but
// reads on every node with /get only the keys written under load and one
// preloaded key in 20.
func TestFault_FailoverFigures100k(t *testing.T) {
	failoverFigures(t, 100000, func(key string) bool {
		i := strings.LastIndex(key, "-pre-")
		if i < 0 {
			return true
		}
		var n int
		_, err := fmt.Sscanf(key[i+len("-pre-"):], "%d", &n)
		return err != nil || n%20 == 0
	})
}
