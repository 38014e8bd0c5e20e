// rw2-sender: the Prometheus authors' remote write client (client_golang/exp/api/remote) sends
// three remote write 2.0 requests to forewarn's receiver, and prints what the receiver said it wrote.
//
// Usage: rw2-sender BASE_URL BEARER_KEY START_MS
//
// Each request holds one scrape, a second after the one before: a counter (app_requests_total,
// 100 more per scrape), a gauge (app_queue_depth), a native histogram (app_native_seconds,
// 98 more observations in (0.125, 0.25] and 2 more in (0.25, 0.5] per scrape) and one with custom
// buckets (app_classic_seconds).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/exp/api/remote"
	writev2 "github.com/prometheus/client_golang/exp/api/remote/genproto/v2"
)

type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

func series(st *writev2.SymbolsTable, name string, kind writev2.Metadata_MetricType) *writev2.TimeSeries {
	labels := []string{"__name__", name, "instance", "app-0:8080", "job", "checkout"}
	return &writev2.TimeSeries{
		LabelsRefs: st.SymbolizeLabels(labels, nil),
		Metadata:   &writev2.Metadata{Type: kind},
	}
}

func request(scrape int64, t int64) *writev2.Request {
	st := writev2.NewSymbolTable()
	counter := series(&st, "app_requests_total", writev2.Metadata_METRIC_TYPE_COUNTER)
	counter.Samples = []*writev2.Sample{{Value: float64(100 * scrape), Timestamp: t}}
	gauge := series(&st, "app_queue_depth", writev2.Metadata_METRIC_TYPE_GAUGE)
	gauge.Samples = []*writev2.Sample{{Value: float64(5 + scrape), Timestamp: t}}
	native := series(&st, "app_native_seconds", writev2.Metadata_METRIC_TYPE_HISTOGRAM)
	fast, slow := 98*scrape, 2*scrape
	native.Histograms = []*writev2.Histogram{{
		Count:          &writev2.Histogram_CountInt{CountInt: uint64(fast + slow)},
		Sum:            0.2*float64(fast) + 0.4*float64(slow),
		Schema:         0,
		ZeroThreshold:  1e-128,
		ZeroCount:      &writev2.Histogram_ZeroCountInt{ZeroCountInt: 0},
		PositiveSpans:  []*writev2.BucketSpan{{Offset: -2, Length: 2}},
		PositiveDeltas: []int64{fast, slow - fast},
		Timestamp:      t,
	}}
	// custom buckets (schema -53), as Prometheus 3 converts a classic histogram: per scrape 50 requests
	// within 0.05 s, 40 in (0.05, 0.1], 8 in (0.1, 0.25] and 2 in (0.25, 0.5]
	classic := series(&st, "app_classic_seconds", writev2.Metadata_METRIC_TYPE_HISTOGRAM)
	a, b, c, d := 50*scrape, 40*scrape, 8*scrape, 2*scrape
	classic.Histograms = []*writev2.Histogram{{
		Count:          &writev2.Histogram_CountInt{CountInt: uint64(a + b + c + d)},
		Sum:            0.1 * float64(a+b+c+d),
		Schema:         -53,
		CustomValues:   []float64{0.05, 0.1, 0.25, 0.5},
		PositiveSpans:  []*writev2.BucketSpan{{Offset: 0, Length: 4}},
		PositiveDeltas: []int64{a, b - a, c - b, d - c},
		Timestamp:      t,
	}}
	return &writev2.Request{Symbols: st.Symbols(), Timeseries: []*writev2.TimeSeries{counter, gauge, native, classic}}
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: rw2-sender BASE_URL BEARER_KEY START_MS")
		os.Exit(2)
	}
	start, err := strconv.ParseInt(os.Args[3], 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "START_MS:", err)
		os.Exit(2)
	}
	api, err := remote.NewAPI(os.Args[1],
		remote.WithAPIHTTPClient(&http.Client{Transport: bearer{os.Args[2]}}),
		remote.WithAPIPath("api/v1/write"),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for scrape := int64(1); scrape <= 3; scrape++ {
		stats, err := api.Write(context.Background(), remote.WriteV2MessageType, request(scrape, start+1000*scrape))
		if err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			os.Exit(1)
		}
		line, _ := json.Marshal(map[string]int{
			"samples": stats.Samples, "histograms": stats.Histograms, "exemplars": stats.Exemplars,
		})
		fmt.Println(string(line))
	}
}
