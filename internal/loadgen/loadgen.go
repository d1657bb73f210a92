// Package loadgen is the closed loop of the project's load tools
// (diststore-bench and, in a module of its own, diststore-bench-etcd):
// each of N connections sends a request, waits for its answer and sends
// the next, until a duration has passed or a number of requests were
// sent, and the latencies of every request become one Result. Both
// tools count and report alike, so that their figures can stand side
// by side.
package loadgen

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one run of the loop.
type Config struct {
	// Conns is how many requests are in flight at once, each on its
	// own connection (or stream). At least 1.
	Conns int
	// Duration ends the run.
	Duration time.Duration
	// Requests, when positive, ends the run after this many requests.
	Requests int64
}

// Op sends request n (numbered from 0 over every connection) on
// connection conn and returns "" for a success, else a short label of
// the failure ("transport", an HTTP status, a gRPC code).
type Op func(ctx context.Context, conn int, n int64) string

// Result is what a run measured. Latencies are of every request sent,
// failed ones included. The JSON names are those diststore-bench has
// always printed.
type Result struct {
	Requests  int64            `json:"requests"`
	OK        int64            `json:"ok"`
	Errors    map[string]int64 `json:"errors"` // by label
	Seconds   float64          `json:"seconds"`
	ReqPerSec float64          `json:"req_per_sec"`
	MeanMs    float64          `json:"mean_ms"`
	P50Ms     float64          `json:"p50_ms"`
	P90Ms     float64          `json:"p90_ms"`
	P99Ms     float64          `json:"p99_ms"`
	MaxMs     float64          `json:"max_ms"`
}

// Run runs op in a closed loop of cfg.Conns connections until
// cfg.Duration has passed, cfg.Requests were sent, or ctx ends.
func Run(ctx context.Context, cfg Config, op Op) Result {
	type worker struct {
		latency []time.Duration
		ok      int64
		errs    map[string]int64
	}
	workers := make([]*worker, max(cfg.Conns, 1))
	var issued atomic.Int64
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{errs: map[string]int64{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := issued.Add(1)
				if cfg.Requests > 0 && n > cfg.Requests {
					return
				}
				t0 := time.Now()
				label := op(ctx, i, n-1)
				w.latency = append(w.latency, time.Since(t0))
				if label == "" {
					w.ok++
				} else {
					w.errs[label]++
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	var ok int64
	errs := map[string]int64{}
	for _, w := range workers {
		all = append(all, w.latency...)
		ok += w.ok
		for k, v := range w.errs {
			errs[k] += v
		}
	}
	return Summarize(all, ok, errs, elapsed)
}

// Summarize makes a Result of the latencies of every request of a run,
// how many succeeded, the failures by label and how long the run took.
// Percentiles are by nearest rank. It sorts latencies.
func Summarize(latencies []time.Duration, ok int64, errs map[string]int64, elapsed time.Duration) Result {
	res := Result{Requests: int64(len(latencies)), OK: ok, Errors: errs, Seconds: elapsed.Seconds()}
	if res.Errors == nil {
		res.Errors = map[string]int64{}
	}
	if res.Seconds > 0 {
		res.ReqPerSec = float64(res.Requests) / res.Seconds
	}
	if len(latencies) == 0 {
		return res
	}
	slices.Sort(latencies)
	var sum time.Duration
	for _, d := range latencies {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pct := func(p float64) float64 {
		i := int(p*float64(len(latencies))+0.5) - 1 // nearest rank
		return ms(latencies[max(0, min(i, len(latencies)-1))])
	}
	res.MeanMs = ms(sum / time.Duration(len(latencies)))
	res.P50Ms, res.P90Ms, res.P99Ms = pct(0.50), pct(0.90), pct(0.99)
	res.MaxMs = ms(latencies[len(latencies)-1])
	return res
}
