package loadgen

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSummarize_NearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	r := Summarize(lat, 98, map[string]int64{"500": 2}, 2*time.Second)
	assert.EqualValues(t, 100, r.Requests)
	assert.EqualValues(t, 98, r.OK)
	assert.Equal(t, 50.0, r.ReqPerSec)
	assert.Equal(t, 50.0, r.P50Ms)
	assert.Equal(t, 90.0, r.P90Ms)
	assert.Equal(t, 99.0, r.P99Ms)
	assert.Equal(t, 100.0, r.MaxMs)
	assert.Equal(t, 50.5, r.MeanMs)
	assert.Equal(t, map[string]int64{"500": 2}, r.Errors)

	empty := Summarize(nil, 0, nil, 0)
	assert.Zero(t, empty.Requests)
	assert.NotNil(t, empty.Errors)
}

func TestRun_RequestCapAndLabels(t *testing.T) {
	var seen atomic.Int64
	r := Run(context.Background(), Config{Conns: 4, Duration: time.Minute, Requests: 40}, func(_ context.Context, conn int, n int64) string {
		seen.Add(1)
		if n%10 == 0 {
			return "transport"
		}
		return ""
	})
	assert.EqualValues(t, 40, seen.Load(), "stops at the cap, well before the duration")
	assert.EqualValues(t, 40, r.Requests)
	assert.EqualValues(t, 36, r.OK)
	assert.Equal(t, map[string]int64{"transport": 4}, r.Errors)
}
