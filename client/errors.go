package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Errors to check with errors.Is. A *StatusError matches the one of its
// status; a *ReachError and a 5xx match ErrUnavailable.
var (
	// ErrNotFound: no node holds the key (404).
	ErrNotFound = errors.New("not found")
	// ErrConditionFailed: a conditional write's condition does not hold:
	// the key's version is not the ETag given, or it exists (412).
	ErrConditionFailed = errors.New("condition failed")
	// ErrConflict: every master already held a newer write of the key, so
	// this one changed nothing (409); also a node that is not a master
	// asked for what only a master does.
	ErrConflict = errors.New("conflict")
	// ErrTooLarge: the value is larger than the node's --max-value-size
	// (413).
	ErrTooLarge = errors.New("value too large")
	// ErrBadRequest: the node refused the request as malformed: a bad
	// key, TTL or ETag, or a version too far ahead of its clock (400).
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized: the node needs a client token, or a valid one
	// (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: a write with a read-only token (403).
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: no node could serve the request: none could be
	// reached, or each answered 5xx.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnknownOutcome: a conditional write failed after it was sent, so
	// it may or may not have been applied; it was not tried again.
	ErrUnknownOutcome = errors.New("outcome unknown")
	// ErrAnswerTooLarge: an answer is larger than the client reads
	// (Config.MaxValueSize).
	ErrAnswerTooLarge = errors.New("answer too large")
)

// StatusError is an answer other than 2xx.
type StatusError struct {
	Op   string // the request: `get "k"`
	Node string // host:port of the node that answered
	Code int    // the HTTP status
	Msg  string // the first line of the answer, or the status text
	// ETag is the answer's ETag: on a 409, the version that won.
	ETag string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: node %s answered %d: %s", e.Op, e.Node, e.Code, e.Msg)
}

// Is reports whether target is the sentinel error of e's status.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == http.StatusNotFound
	case ErrConditionFailed:
		return e.Code == http.StatusPreconditionFailed
	case ErrConflict:
		return e.Code == http.StatusConflict
	case ErrTooLarge:
		return e.Code == http.StatusRequestEntityTooLarge
	case ErrBadRequest:
		return e.Code == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Code == http.StatusUnauthorized
	case ErrForbidden:
		return e.Code == http.StatusForbidden
	case ErrUnavailable:
		return e.Code >= 500
	}
	return false
}

// decided reports whether the answer is the cluster's decision, which
// another node would give too: any status but 5xx.
func (e *StatusError) decided() bool { return e.Code < 500 }

// ReachError is a node that could not be reached, or whose answer could
// not be read to its end.
type ReachError struct {
	URL     string // the node's base URL
	Err     error  // as net/http returned it
	Reading bool   // the answer began but was cut short
	// Timeout is the client's timeout, named when it is what struck.
	Timeout time.Duration
}

func (e *ReachError) Error() string {
	why := reason(e.Err)
	if why == "timed out" && e.Timeout > 0 {
		why += " after " + e.Timeout.String()
	}
	if e.Reading {
		return fmt.Sprintf("reading the answer of node %s: %s", e.URL, why)
	}
	return fmt.Sprintf("cannot reach node %s: %s", e.URL, why)
}

func (e *ReachError) Unwrap() error { return e.Err }

// Is makes every ReachError an ErrUnavailable.
func (e *ReachError) Is(target error) bool { return target == ErrUnavailable }

// notSent reports whether the request never left: the connection to the
// node could not be made.
func (e *ReachError) notSent() bool {
	var d *dialError
	return !e.Reading && errors.As(e.Err, &d)
}

// dialError marks an error of connecting: nothing of the request was
// sent.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// OutcomeError is a conditional write that failed after it was sent: it
// may or may not have been applied.
type OutcomeError struct{ Err error }

func (e *OutcomeError) Error() string {
	return e.Err.Error() + " (the conditional write may or may not have been applied; read the key to find out)"
}

func (e *OutcomeError) Unwrap() error { return e.Err }

// Is makes every OutcomeError an ErrUnknownOutcome.
func (e *OutcomeError) Is(target error) bool { return target == ErrUnknownOutcome }

// FailedError is every node failing one request, each error in the order
// the nodes were tried.
type FailedError struct{ Errs []error }

func (e *FailedError) Error() string {
	parts := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		parts[i] = err.Error()
	}
	return fmt.Sprintf("all %d nodes failed: %s", len(e.Errs), strings.Join(parts, "; "))
}

func (e *FailedError) Unwrap() []error { return e.Errs }

// reason returns the part of a net/http error that says what went wrong,
// without the request it was about: "connection refused", "timed out".
func reason(err error) string {
	var errno syscall.Errno
	var dns *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %s: %s", dns.Name, dns.Err)
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed early"
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

// firstLine returns the first non-empty line of an error answer, cleaned
// of control characters, or the status text if there is none.
func firstLine(body []byte, code int) string {
	for _, line := range strings.Split(string(body), "\n") {
		if line = oneLine(line); line != "" {
			return line
		}
	}
	if t := http.StatusText(code); t != "" {
		return strings.ToLower(t)
	}
	return "no message"
}

// oneLine returns s trimmed, with control characters replaced by spaces.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// sizeString formats n bytes for a message: 64 MiB, 4 KiB, 12 bytes.
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
