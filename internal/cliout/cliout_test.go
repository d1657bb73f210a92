package cliout

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrintLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a", "a\n"},
		{"a\n", "a\n"},
		{"a\nb", "a\nb\n"},
	} {
		var b bytes.Buffer
		require.NoError(t, PrintLine(&b, []byte(tc.in)))
		assert.Equal(t, tc.want, b.String(), "%q", tc.in)
	}
}

func TestOneLine(t *testing.T) {
	assert.Equal(t, "a b c", OneLine(" a\nb\tc \n"))
	assert.Equal(t, "x y", OneLine("x\x7fy"))
}
