// Package metrics owns excd's Prometheus metrics (every name starts with
// excd_) and the HTTP handlers of the metrics listener: /metrics, /healthz
// and /readyz. The S3 layer, the collector and the FUSE mounts report into a
// *Metrics through plain methods, so none of them imports Prometheus.
//
// Store-wide gauges (objects, bytes, chunk and catalog sizes, dedup ratio)
// come from a StoreStats function that scans the catalog and the chunk
// directory; a scrape reuses the last result for StatsTTL so frequent
// scrapes do not turn into constant full scans.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"excloud.dev/buckets/internal/health"
)

// StoreStats is a snapshot of what the store holds.
type StoreStats struct {
	Objects      int64 // committed objects
	BytesStored  int64 // logical: the sum of object sizes
	Chunks       int64 // chunk files
	ChunkBytes   int64 // their stored (sealed) size
	CatalogBytes int64 // the catalog directory's size on disk
}

// ChunkCounters are the chunk store's cumulative counters.
type ChunkCounters struct {
	Written, Deduped, Opened, CorruptReads int64
}

// Sources are the functions scrapes read from; any may be nil.
type Sources struct {
	Store  func(ctx context.Context) (StoreStats, error)
	Chunks func() ChunkCounters
	// Ready reports whether the daemon serves (S3 listening, catalog open,
	// mounts up) and, if not, why.
	Ready func() error
}

// Metrics holds every collector. The zero value is not usable; call New.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
	inFlight prometheus.Gauge

	gcRuns    prometheus.Counter
	gcErrors  prometheus.Counter
	gcDeleted prometheus.Counter
	gcFreed   prometheus.Counter

	fuseOps     *prometheus.CounterVec
	fuseErrors  *prometheus.CounterVec
	fuseLatency *prometheus.HistogramVec

	// StatsTTL is how long a StoreStats result is reused; 0 scans on every
	// scrape.
	StatsTTL time.Duration
	src      atomic.Pointer[Sources]

	statsMu   sync.Mutex
	stats     StoreStats
	statsErr  error
	statsTime time.Time
}

// New registers every metric on a fresh registry (plus the Go runtime and
// process collectors).
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), StatsTTL: time.Minute}
	m.src.Store(&Sources{})
	f := promauto{m.reg}
	m.requests = f.counterVec("excd_s3_requests_total", "S3 requests by operation and HTTP status.", "op", "status")
	m.latency = f.histogramVec("excd_s3_request_duration_seconds", "S3 request latency, from routing to the end of the response body.",
		// 1 ms to ~33 s: small metadata calls up to multi-GiB transfers.
		prometheus.ExponentialBuckets(0.001, 2, 16), "op")
	m.bytesIn = f.counterVec("excd_s3_received_bytes_total", "Request body bytes read from S3 clients.", "op")
	m.bytesOut = f.counterVec("excd_s3_sent_bytes_total", "Response body bytes written to S3 clients.", "op")
	m.inFlight = f.gauge("excd_s3_requests_in_flight", "S3 requests being served now.")
	m.gcRuns = f.counter("excd_gc_runs_total", "Garbage collections run (periodic and exc gc).")
	m.gcErrors = f.counter("excd_gc_errors_total", "Garbage collections that failed.")
	m.gcDeleted = f.counter("excd_gc_chunks_deleted_total", "Chunk files deleted by the garbage collector.")
	m.gcFreed = f.counter("excd_gc_freed_bytes_total", "Stored bytes freed by the garbage collector.")
	m.fuseOps = f.counterVec("excd_fuse_operations_total", "FUSE operations by kind.", "op")
	m.fuseErrors = f.counterVec("excd_fuse_errors_total", "FUSE operations that returned an error, by kind.", "op")
	m.fuseLatency = f.histogramVec("excd_fuse_operation_duration_seconds",
		"Time excd took to answer a FUSE operation, by kind (without the kernel round trip).",
		// 8 µs to ~0.5 s: a cached lookup up to a commit that waits for disk.
		prometheus.ExponentialBuckets(8e-6, 2, 17), "op")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(storeCollector{m})
	return m
}

// SetSources sets what scrapes and /readyz read from. It may be called once
// the daemon has opened its stores; until then the store gauges are absent
// and /readyz fails.
func (m *Metrics) SetSources(s Sources) { m.src.Store(&s) }

// ObserveRequest records one finished S3 request: its operation (as the
// gateway names it, e.g. "PutObject"), HTTP status, body bytes read and
// written, and duration from start to the end of the response.
func (m *Metrics) ObserveRequest(op string, status int, bytesIn, bytesOut int64, d time.Duration) {
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
	m.bytesIn.WithLabelValues(op).Add(float64(bytesIn))
	m.bytesOut.WithLabelValues(op).Add(float64(bytesOut))
}

// RequestStarted and RequestDone bracket every S3 request for the in-flight
// gauge.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// RequestDone: see RequestStarted.
func (m *Metrics) RequestDone() { m.inFlight.Dec() }

// ObserveGC records one garbage collection.
func (m *Metrics) ObserveGC(deleted int, bytesFreed int64, err error) {
	m.gcRuns.Inc()
	if err != nil {
		m.gcErrors.Inc()
	}
	m.gcDeleted.Add(float64(deleted))
	m.gcFreed.Add(float64(bytesFreed))
}

// ObserveFUSE records one FUSE operation (e.g. "read", "write", "lookup"),
// whether it failed and how long excd took. Registered now so dashboards
// exist before the mounts do.
func (m *Metrics) ObserveFUSE(op string, failed bool, took time.Duration) {
	m.fuseOps.WithLabelValues(op).Inc()
	m.fuseLatency.WithLabelValues(op).Observe(took.Seconds())
	if failed {
		m.fuseErrors.WithLabelValues(op).Inc()
	}
}

// Handler serves /metrics, /healthz (the process answers) and /readyz
// (Sources.Ready says it serves).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+health.LivePath, health.ServeLive)
	mux.HandleFunc("GET "+health.ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		health.ServeReady(w, r, m.src.Load().Ready)
	})
	return mux
}

// storeStats returns the cached snapshot, refreshing it when older than
// StatsTTL. Concurrent scrapes share one scan.
func (m *Metrics) storeStats(ctx context.Context) (StoreStats, bool) {
	fn := m.src.Load().Store
	if fn == nil {
		return StoreStats{}, false
	}
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	if m.statsTime.IsZero() || time.Since(m.statsTime) >= m.StatsTTL {
		m.stats, m.statsErr = fn(ctx)
		m.statsTime = time.Now()
	}
	return m.stats, m.statsErr == nil
}

var (
	descObjects  = prometheus.NewDesc("excd_objects", "Committed objects.", nil, nil)
	descBytes    = prometheus.NewDesc("excd_stored_bytes", "Logical bytes stored: the sum of object sizes, before dedup.", nil, nil)
	descChunks   = prometheus.NewDesc("excd_chunks", "Chunk files in the chunk store.", nil, nil)
	descChunkB   = prometheus.NewDesc("excd_chunk_store_bytes", "Size of the chunk files (sealed, after dedup).", nil, nil)
	descCatalogB = prometheus.NewDesc("excd_catalog_bytes", "Size of the catalog directory on disk.", nil, nil)
	descDedup    = prometheus.NewDesc("excd_dedup_ratio", "Logical bytes of chunked data per stored chunk byte (excd_stored_bytes / excd_chunk_store_bytes; small objects live in the catalog and count only above the line).", nil, nil)
	descCWritten = prometheus.NewDesc("excd_chunk_writes_total", "Chunks written to the store since start.", nil, nil)
	descCDedup   = prometheus.NewDesc("excd_chunk_dedup_hits_total", "Chunk writes skipped because the same org had stored the chunk, since start.", nil, nil)
	descCOpened  = prometheus.NewDesc("excd_chunk_reads_total", "Chunk opens since start.", nil, nil)
	descCCorrupt = prometheus.NewDesc("excd_chunk_corrupt_reads_total", "Chunk reads that failed authentication since start.", nil, nil)
	descStatsOK  = prometheus.NewDesc("excd_store_stats_up", "1 if the last store scan for these gauges succeeded.", nil, nil)
)

// storeCollector reads the store gauges at scrape time.
type storeCollector struct{ m *Metrics }

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descObjects, descBytes, descChunks, descChunkB, descCatalogB, descDedup,
		descCWritten, descCDedup, descCOpened, descCCorrupt, descStatsOK} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.src.Load()
	if src.Chunks != nil {
		cc := src.Chunks()
		ch <- prometheus.MustNewConstMetric(descCWritten, prometheus.CounterValue, float64(cc.Written))
		ch <- prometheus.MustNewConstMetric(descCDedup, prometheus.CounterValue, float64(cc.Deduped))
		ch <- prometheus.MustNewConstMetric(descCOpened, prometheus.CounterValue, float64(cc.Opened))
		ch <- prometheus.MustNewConstMetric(descCCorrupt, prometheus.CounterValue, float64(cc.CorruptReads))
	}
	if src.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, ok := c.m.storeStats(ctx)
	if !ok {
		ch <- prometheus.MustNewConstMetric(descStatsOK, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descStatsOK, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descObjects, prometheus.GaugeValue, float64(st.Objects))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.BytesStored))
	ch <- prometheus.MustNewConstMetric(descChunks, prometheus.GaugeValue, float64(st.Chunks))
	ch <- prometheus.MustNewConstMetric(descChunkB, prometheus.GaugeValue, float64(st.ChunkBytes))
	ch <- prometheus.MustNewConstMetric(descCatalogB, prometheus.GaugeValue, float64(st.CatalogBytes))
	ratio := 1.0
	if st.ChunkBytes > 0 {
		ratio = float64(st.BytesStored) / float64(st.ChunkBytes)
	}
	ch <- prometheus.MustNewConstMetric(descDedup, prometheus.GaugeValue, ratio)
}

// promauto registers as it creates.
type promauto struct{ reg *prometheus.Registry }

func (p promauto) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	p.reg.MustRegister(c)
	return c
}

func (p promauto) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	p.reg.MustRegister(h)
	return h
}

func (p promauto) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	p.reg.MustRegister(c)
	return c
}

func (p promauto) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	p.reg.MustRegister(g)
	return g
}
