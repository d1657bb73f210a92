package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/store"
)

// errMethod is a request whose method the route does not take.
var errMethod = errors.New("method not allowed")

// errCrossOrigin is a browser's state-changing request from another origin.
var errCrossOrigin = errors.New("cross-origin request refused")

// errBusy: the node serves as many of these requests as it will at once.
var errBusy = errors.New("busy")

// statusOf maps an error to the HTTP status it answers with.
func statusOf(err error) int {
	var maxBytes *http.MaxBytesError
	switch {
	case errors.Is(err, store.ErrBadKey), errors.Is(err, store.ErrBadVersion), errors.Is(err, store.ErrClockSkew), errors.Is(err, errBadForm),
		errors.Is(err, errBadRequest), errors.Is(err, store.ErrBadDump):
		return http.StatusBadRequest
	case errors.Is(err, cluster.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errCrossOrigin), errors.Is(err, errReadOnly):
		return http.StatusForbidden
	case errors.Is(err, cluster.ErrTooLarge), errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, cluster.ErrPrecondition):
		return http.StatusPreconditionFailed
	case errors.Is(err, cluster.ErrNotMaster), errors.Is(err, cluster.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, cluster.ErrMasterRefused):
		return http.StatusBadGateway
	case errors.Is(err, cluster.ErrNoMaster), errors.Is(err, cluster.ErrClosed), errors.Is(err, errBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, cluster.ErrNoBackup):
		return http.StatusNotImplemented
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errStreamTimeout):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// writeErrorOf maps the error status a node answered a node-to-node write
// with (see statusOf) back to the error it stands for; why says who
// answered what.
func writeErrorOf(code int, why string) error {
	switch code {
	case http.StatusPreconditionFailed:
		return fmt.Errorf("%w (%s)", cluster.ErrPrecondition, why)
	case http.StatusConflict:
		return fmt.Errorf("%w (%s)", cluster.ErrNotMaster, why)
	}
	return fmt.Errorf("%w: %s", cluster.ErrMasterRefused, why)
}

// writeError answers with err's status and a short plain-text reason. An
// internal error's text (which may name a file of the server) stays in the
// node's log: the cluster logs what failed where it fails.
func writeError(w http.ResponseWriter, err error) {
	code := statusOf(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		msg = "internal error: see the node's log"
	}
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) {
		msg = "value too large: at most " + itoa(maxBytes.Limit) + " bytes"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}
