package metering

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/micro/platform"
)

// errAlreadyRegistered: a registry takes one publisher and one folder.
var errAlreadyRegistered = platform.Errorf(platform.EINVALID, "metering metrics already registered in this registry")

// The collectors read the publisher's and folder's own counters when scraped, so the
// hot path counts once, with an atomic add.

var (
	publishedDesc = prometheus.NewDesc("platform_metering_published_total",
		"Usage events the metering stream acknowledged.", nil, nil)
	droppedDesc = prometheus.NewDesc("platform_metering_dropped_total",
		"Usage events the publisher dropped, unbilled, by reason: buffer_full (the buffer was full), invalid, failed (every publish failed).",
		[]string{"reason"}, nil)
	foldedDesc = prometheus.NewDesc("platform_metering_folded_total",
		"Usage events read from the metering stream, by result: counted into rollups, duplicate, late (of an hour already forgotten), invalid.",
		[]string{"result"}, nil)
	commitsDesc = prometheus.NewDesc("platform_metering_commits_total",
		"Transactions that folded usage events into rollups and moved the stream's position.", nil, nil)
	positionDesc = prometheus.NewDesc("platform_metering_position",
		"The sequence of the last message of the metering stream folded into rollups.", nil, nil)
)

type publisherCollector struct{ p *Publisher }

func (c publisherCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- publishedDesc
	ch <- droppedDesc
}

func (c publisherCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	ch <- prometheus.MustNewConstMetric(publishedDesc, prometheus.CounterValue, float64(s.Published))
	for _, d := range []struct {
		reason string
		n      uint64
	}{{DropFull, s.DroppedFull}, {DropInvalid, s.DroppedInvalid}, {DropFailed, s.DroppedFailed}} {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(d.n), d.reason)
	}
}

type folderCollector struct{ f *Folder }

func (c folderCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- foldedDesc
	ch <- commitsDesc
	ch <- positionDesc
}

func (c folderCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.f.Stats()
	for _, r := range []struct {
		result string
		n      uint64
	}{{"counted", s.Counted}, {"duplicate", s.Duplicates}, {"late", s.Late}, {"invalid", s.Invalid}} {
		ch <- prometheus.MustNewConstMetric(foldedDesc, prometheus.CounterValue, float64(r.n), r.result)
	}
	ch <- prometheus.MustNewConstMetric(commitsDesc, prometheus.CounterValue, float64(s.Commits))
	ch <- prometheus.MustNewConstMetric(positionDesc, prometheus.GaugeValue, float64(s.Position))
}

func registerPublisherMetrics(reg prometheus.Registerer, p *Publisher) error {
	return register(reg, publisherCollector{p})
}

func registerFolderMetrics(reg prometheus.Registerer, f *Folder) error {
	return register(reg, folderCollector{f})
}

// register registers c; a second publisher or folder in one registry is refused
// (EINVALID from the constructor), since their series would collide.
func register(reg prometheus.Registerer, c prometheus.Collector) error {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return errAlreadyRegistered
		}
		return err
	}
	return nil
}
