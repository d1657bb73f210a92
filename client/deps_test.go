package client_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImportsNoNodeCode: the client speaks HTTP only; neither it nor
// anything it imports is the node's code.
func TestImportsNoNodeCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/diststore/diststore/client").CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	for _, dep := range strings.Fields(string(out)) {
		for _, node := range []string{"/cluster", "/httpapi", "/store", "/mcast", "/election", "/clusterkey"} {
			if dep == "github.com/diststore/diststore"+node {
				t.Errorf("package client imports %s", dep)
			}
		}
	}
}
