// Package cliout holds what diststore's command-line tools (diststore,
// diststore-bench) share in how they print: lines of output and one-line
// errors.
package cliout

import (
	"io"
	"strings"
)

// PrintLine writes text to w followed by a newline if it lacks one;
// nothing if text is empty.
func PrintLine(w io.Writer, text []byte) error {
	if len(text) == 0 {
		return nil
	}
	if text[len(text)-1] != '\n' {
		text = append(text, '\n')
	}
	_, err := w.Write(text)
	return err
}

// OneLine returns s with line breaks and other control characters replaced
// by spaces, so that an error is always one line.
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
