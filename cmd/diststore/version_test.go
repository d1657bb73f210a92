package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVersion(t *testing.T) {
	// No node is needed: the local node cannot be found in this test.
	assert.Equal(t, result{code: 0, stdout: "diststore dev\n"}, runCLI(t, testSystem{}, "version"))
	assert.Equal(t, result{code: 2, stderr: "diststore: version: unexpected argument \"x\" (see diststore version --help)\n"},
		runCLI(t, testSystem{}, "version", "x"))
}
