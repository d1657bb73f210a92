// Command testsum reads the output of `go test -json` and prints it the way
// `go test` without -v would: the output of each failed or skipped test and
// one result line per package. With -summary FILE... it instead reads the
// JSON of several runs and prints one line counting their tests,
//
//	N passed, N failed, N skipped
//
// and exits 1 if any test failed or was skipped, or a package failed
// outside any test (a build error, a TestMain that exited non-zero): make
// test counts a skipped test as one that did not pass.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// counts are the results of a run.
type counts struct {
	passed, failed, skipped int
	// failedPackages are packages that failed with no failed test.
	failedPackages []string
}

func main() {
	summary := flag.Bool("summary", false, "read the JSON files named as arguments and print one line of counts")
	flag.Parse()
	if *summary {
		os.Exit(summarize(os.Stdout, os.Stderr, flag.Args()))
	}
	if _, err := filter(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(1)
	}
}

// maxLine bounds one line of go test's output.
const maxLine = 16 << 20

// filter copies r's events to w as go test without -v prints them, and
// returns what it counted. A line that is not JSON (go vet's, a build
// error) is copied as it is.
func filter(r io.Reader, w io.Writer) (counts, error) {
	var c counts
	out := map[string][]string{} // "pkg test" → its output so far
	pkgFailedTests := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		id := e.Package + " " + e.Test
		switch e.Action {
		case "output", "build-output":
			out[id] = append(out[id], e.Output)
		case "pass":
			if e.Test != "" {
				c.passed++
			} else {
				fmt.Fprintf(w, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			delete(out, id)
		case "skip":
			if e.Test != "" {
				c.skipped++
				fmt.Fprint(w, strings.Join(out[id], ""))
			} else {
				fmt.Fprintf(w, "?   \t%s\t[no test files]\n", e.Package)
			}
			delete(out, id)
		case "fail":
			fmt.Fprint(w, strings.Join(out[id], ""))
			delete(out, id)
			if e.Test != "" {
				c.failed++
				pkgFailedTests[e.Package]++
				continue
			}
			if pkgFailedTests[e.Package] == 0 {
				c.failedPackages = append(c.failedPackages, e.Package)
			}
			fmt.Fprintf(w, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("reading go test -json: %w", err)
	}
	return c, nil
}

// summarize counts the tests of every file and prints the summary line;
// it returns the exit code.
func summarize(w, errw io.Writer, files []string) int {
	if len(files) == 0 {
		fmt.Fprintln(errw, "testsum: -summary needs the JSON files of the runs")
		return 2
	}
	var total counts
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintln(errw, "testsum:", err)
			return 2
		}
		c, err := filter(fh, io.Discard)
		fh.Close()
		if err != nil {
			fmt.Fprintf(errw, "testsum: %s: %v\n", f, err)
			return 2
		}
		total.passed += c.passed
		total.failed += c.failed
		total.skipped += c.skipped
		total.failedPackages = append(total.failedPackages, c.failedPackages...)
	}
	for _, p := range total.failedPackages {
		fmt.Fprintf(w, "package %s failed outside any test\n", p)
		total.failed++
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", total.passed, total.failed, total.skipped)
	if total.failed > 0 || total.skipped > 0 {
		return 1
	}
	return 0
}
