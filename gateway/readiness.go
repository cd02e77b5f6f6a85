package gateway

import "time"

type receiverStatus struct {
	Endpoint  string `json:"endpoint"`
	Listening bool   `json:"listening"`
}

type exporterStatus struct {
	Queue queueStatus `json:"queue"`
}

type filterStatus struct {
	Status  string        `json:"status"`
	Message string        `json:"message,omitempty"`
	Module  *filterReport `json:"module_report,omitempty"`
}

type queueStatus struct {
	Bytes    int64   `json:"bytes"`
	Capacity int64   `json:"capacity_bytes"`
	Items    int64   `json:"items"`
	Fill     float64 `json:"fill"`
	// StorageError is why a persistent queue cannot write its journal
	// (a full disk, EIO); empty while it can.
	StorageError string `json:"storage_error,omitempty"`
}

type readinessDetail struct {
	Receivers map[string]receiverStatus `json:"receivers"`
	Exporters map[string]exporterStatus `json:"exporters"`
	Filters   map[string]filterStatus   `json:"filters,omitempty"`
	Memory    struct {
		OverSoftLimit bool `json:"over_soft_limit"`
	} `json:"memory"`
	Pressure      float64     `json:"pressure"`
	Draining      bool        `json:"draining"`
	Config        reloadState `json:"config"`
	UptimeSeconds float64     `json:"uptime_seconds"`
}

// readiness: ready when every configured receiver is listening. Full
// queues or an unreachable upstream do not make the gateway unready: a
// load balancer taking it out of rotation would not help, and receivers
// already answer with backpressure. From the moment Shutdown stops intake
// it is "draining" and unready, and no receiver counts as listening: the
// listeners refuse connections while the queues drain, so a load balancer
// must stop sending at once. A persistent queue that cannot write its
// journal makes the gateway unready, unlike a full queue: a full queue
// means a slow upstream, the same for every replica, but a full or failing
// disk is this replica's alone, and it refuses all new data until the disk
// recovers, so a load balancer should send elsewhere. What is stored keeps
// being delivered meanwhile (/healthz stays 200).
func (g *Gateway) readiness() (bool, string, any) {
	gen := g.cur.Load()
	draining := g.draining.Load()
	d := readinessDetail{
		Receivers: map[string]receiverStatus{},
		Exporters: map[string]exporterStatus{},
		Pressure:  gen.pipe.Pressure(),
		Config:    g.reload.snapshot(),
	}
	ready := true
	if r := g.grpc.Load(); r != nil {
		s := receiverStatus{Endpoint: gen.cfg.Receivers.OTLP.GRPC.Endpoint, Listening: !draining && r.Addr() != nil}
		ready = ready && s.Listening
		d.Receivers["otlp/grpc"] = s
	}
	if r := g.http.Load(); r != nil {
		s := receiverStatus{Endpoint: gen.cfg.Receivers.OTLP.HTTP.Endpoint, Listening: !draining && r.Addr() != nil}
		ready = ready && s.Listening
		d.Receivers["otlp/http"] = s
	}
	for _, e := range gen.exporters {
		q := e.Queue()
		qs := queueStatus{Bytes: q.UsedBytes(), Capacity: q.Capacity(), Items: q.Items(), Fill: q.Fill()}
		if err := q.StorageError(); err != nil {
			qs.StorageError = err.Error()
			ready = false
		}
		d.Exporters[e.Name()] = exporterStatus{Queue: qs}
	}
	// A filter that keeps failing is unhealthy, but the gateway stays
	// ready: its on_error policy keeps traffic flowing.
	for _, f := range gen.filters {
		st, msg := f.f.Health()
		fs := filterStatus{Status: [...]string{"healthy", "degraded", "unhealthy"}[min(max(st, 0), 2)], Message: msg}
		if r, ok := g.host.report(f.name); ok {
			fs.Module = &r
		}
		if d.Filters == nil {
			d.Filters = map[string]filterStatus{}
		}
		d.Filters[f.name] = fs
	}
	d.Memory.OverSoftLimit = g.mem.Over()
	if !g.started.IsZero() {
		d.UptimeSeconds = time.Since(g.started).Seconds()
	}
	d.Draining = draining
	if draining {
		return false, "draining", d
	}
	return ready, "", d
}
