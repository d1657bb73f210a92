package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressEvery is how often progress is redrawn at most.
const progressEvery = 100 * time.Millisecond

// progress shows how far a long command got, on one line of a terminal
// redrawn in place; on anything else it shows nothing.
type progress struct {
	w     io.Writer // nil: show nothing
	label string
	total int64
	unit  func(int64) string
	noun  string // after the total: " entries"

	mu   sync.Mutex // guards done and last
	done int64
	last time.Time
}

// newProgress returns the progress of label, out of total in unit (and
// noun), shown on sys.stderr if it is a terminal.
func (sys system) newProgress(label string, total int64, unit func(int64) string, noun string) *progress {
	p := &progress{label: label, total: total, unit: unit, noun: noun}
	if sys.isTerminal != nil && sys.isTerminal(sys.stderr) {
		p.w = sys.stderr
	}
	return p
}

// add counts n more done.
func (p *progress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.w == nil || time.Since(p.last) < progressEvery {
		return
	}
	p.last = time.Now()
	p.draw()
}

// finish draws the last state and ends the line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil {
		return
	}
	p.draw()
	fmt.Fprintln(p.w)
}

func (p *progress) draw() {
	pct := 100
	if p.total > 0 {
		pct = int(min(100, p.done*100/p.total))
	}
	fmt.Fprintf(p.w, "\r%s: %s of %s%s (%d%%)", p.label, p.unit(p.done), p.unit(p.total), p.noun, pct)
}

// countingWriter counts what goes through it into a progress.
type countingWriter struct {
	w io.Writer
	p *progress
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.p.add(int64(n))
	return n, err
}

// bytesString formats a size for progress and reports: 12.3 MiB.
func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// countString formats a count for progress.
func countString(n int64) string { return fmt.Sprint(n) }
