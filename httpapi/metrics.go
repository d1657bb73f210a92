package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the node's Prometheus metrics, in a registry of its own
// (never the global one). Labels name routes, never keys.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refusals *prometheus.CounterVec

	// The children of requests and latency, looked up once per label
	// set rather than hashed on every request.
	counters  sync.Map // counterKey → prometheus.Counter
	observers sync.Map // route → prometheus.Observer
}

type counterKey struct {
	route string
	code  int
}

func newMetrics(node Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "diststore_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "diststore_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route.",
			// 0.5 ms to about 4 s.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
	}
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "diststore_http_refused_total",
		Help: "HTTP requests refused for their credentials, by reason: missing, bad_proof or stale (the cluster key's proof), token, read_only.",
	}, []string{"reason"})
	m.reg.MustRegister(m.requests, m.latency, m.refusals, nodeCollector{node},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// refused counts a request refused for its credentials.
func (m *metrics) refused(reason string) { m.refusals.WithLabelValues(reason).Inc() }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// serve serves r with h, counted and timed under rt's label.
func (m *metrics) serve(rt route, w http.ResponseWriter, r *http.Request, h func(route, http.ResponseWriter, *http.Request)) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	h(rt, rec, r)
	label := rt.String()
	m.counter(label, rec.code).Inc()
	m.observer(label).Observe(time.Since(start).Seconds())
}

func (m *metrics) counter(rt string, code int) prometheus.Counter {
	k := counterKey{rt, code}
	if c, ok := m.counters.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.counters.LoadOrStore(k, m.requests.WithLabelValues(rt, strconv.Itoa(code)))
	return c.(prometheus.Counter)
}

func (m *metrics) observer(rt string) prometheus.Observer {
	if o, ok := m.observers.Load(rt); ok {
		return o.(prometheus.Observer)
	}
	o, _ := m.observers.LoadOrStore(rt, m.latency.WithLabelValues(rt))
	return o.(prometheus.Observer)
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// nodeCollector turns the node's counters into metrics at scrape time.
type nodeCollector struct{ node Node }

var (
	descReads = prometheus.NewDesc("diststore_reads_total",
		"GET /get reads, by result: local (held here), remote (fetched from another node), miss (no node had it).",
		[]string{"result"}, nil)
	descDatagrams = prometheus.NewDesc("diststore_multicast_datagrams_total",
		"Datagrams sent and received on the multicast transport.", []string{"direction"}, nil)
	descDropped = prometheus.NewDesc("diststore_multicast_datagrams_dropped_total",
		"Datagrams dropped, by reason: the transport's (oversize, queue_full, read_error), malformed, refused (spoofed or reflecting).",
		[]string{"reason"}, nil)
	descQueries = prometheus.NewDesc("diststore_whohas_total",
		"whohas queries this node sent, and the gotkey/nokey answers it received.", []string{"kind"}, nil)
	descDirect = prometheus.NewDesc("diststore_misses_asked_of_masters_total",
		"Misses this node asked of the synced masters alone over HTTP, without a whohas: no member said it holds keys stored with POST /local.", nil, nil)
	descElections = prometheus.NewDesc("diststore_elections_total",
		"Master pairs this node proposed.", nil, nil)
	descSyncs = prometheus.NewDesc("diststore_syncs_total",
		"Completed master syncs.", nil, nil)
	descSyncFailures = prometheus.NewDesc("diststore_sync_failures_total",
		"Master syncs (and hand-overs of a node that is no longer master) that failed and will be retried.", nil, nil)
	descSyncSeconds = prometheus.NewDesc("diststore_sync_seconds_total",
		"Time spent in completed master syncs.", nil, nil)
	descKeys = prometheus.NewDesc("diststore_keys",
		"Keys held durably (every key, on a master).", nil, nil)
	descStoreBytes = prometheus.NewDesc("diststore_store_bytes",
		"Size of the durable store's file.", nil, nil)
	descCached = prometheus.NewDesc("diststore_cache_entries",
		"Copies held in the cache.", nil, nil)
	descCacheBytes = prometheus.NewDesc("diststore_cache_bytes",
		"Memory the copies held in the cache take, bookkeeping included, as counted against --cache-max-bytes.", nil, nil)
	descCacheDropped = prometheus.NewDesc("diststore_cache_dropped_total",
		"Copies dropped from the cache, by reason: evicted, expired, invalidated.", []string{"reason"}, nil)
	descPurged = prometheus.NewDesc("diststore_purged_total",
		"Expired entries and old tombstones removed.", nil, nil)
	descMembers = prometheus.NewDesc("diststore_members",
		"Other live members this node knows.", nil, nil)
	descMaster = prometheus.NewDesc("diststore_master",
		"1 if this node is a master (synced: holds every key).", []string{"synced"}, nil)
	descEpoch = prometheus.NewDesc("diststore_master_epoch",
		"Epoch of the master pair this node holds.", nil, nil)
)

func (nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReads, descQueries, descDirect, descDatagrams, descDropped, descElections, descSyncs,
		descSyncFailures, descSyncSeconds, descKeys, descStoreBytes, descCached, descCacheBytes, descCacheDropped, descPurged,
		descMembers, descMaster, descEpoch} {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.Status()
	m := st.Counters
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descReads, float64(m.LocalHits), "local")
	counter(descReads, float64(m.RemoteHits), "remote")
	counter(descReads, float64(m.Misses), "miss")
	counter(descDatagrams, float64(st.Transport.Sent), "sent")
	counter(descDatagrams, float64(st.Transport.Received), "received")
	for reason, v := range st.Transport.Dropped {
		counter(descDropped, float64(v), reason)
	}
	counter(descDropped, float64(m.BadDatagrams), "malformed")
	counter(descDropped, float64(m.Refused), "refused")
	counter(descQueries, float64(m.Queries), "sent")
	counter(descQueries, float64(m.Answers), "answers_received")
	counter(descDirect, float64(m.Direct))
	counter(descElections, float64(m.Elections))
	counter(descSyncs, float64(m.Syncs))
	counter(descSyncFailures, float64(m.SyncFailures))
	counter(descSyncSeconds, m.SyncSeconds)
	gauge(descKeys, float64(st.Keys))
	gauge(descStoreBytes, float64(st.StoreBytes))
	gauge(descCached, float64(st.Cached))
	gauge(descCacheBytes, float64(st.CacheBytes))
	counter(descCacheDropped, float64(m.CacheEvicted), "evicted")
	counter(descCacheDropped, float64(m.CacheExpired), "expired")
	counter(descCacheDropped, float64(m.Invalidated), "invalidated")
	counter(descPurged, float64(m.Purged))
	gauge(descMembers, float64(max(0, len(st.Members)-1)))
	master := 0.0
	if st.IsMaster {
		master = 1
	}
	gauge(descMaster, master, strconv.FormatBool(st.Synced))
	gauge(descEpoch, float64(st.Epoch))
}

var _ prometheus.Collector = nodeCollector{}
