// Package metrics exports popadm's counters in the Prometheus text format
// on a loopback HTTP endpoint (/metrics), useful without any
// configuration: sessions by protocol, logins by protocol, mechanism and
// result, the authentication latency histogram (the password hash cost
// shows there), POP3 commands and bytes, [IN-USE] refusals, password
// changes, throttled clients and store errors. The series follow the
// proposal in the project's observability notes.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the series of one process. It implements the glue's
// backend.Metrics and pop3d.Observer. The zero value is not usable; call
// New.
type Metrics struct {
	reg       *prometheus.Registry
	logins    *prometheus.CounterVec
	authSecs  *prometheus.HistogramVec
	commands  *prometheus.CounterVec
	bytes     prometheus.Counter
	inUse     prometheus.Counter
	changes   *prometheus.CounterVec
	throttled *prometheus.CounterVec
	dbErrors  prometheus.Counter
}

// New returns a Metrics with its own registry (no global state), with Go
// runtime and process collectors and popadm_build_info.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "popadm_logins_total",
			Help: "Login attempts by protocol, mechanism and result (ok, bad-password, unknown-user, disabled, locked, expired, throttled, ...).",
		}, []string{"proto", "mech", "result"}),
		authSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "popadm_auth_seconds",
			Help:    "Time to answer an authentication attempt, failure delay included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"proto", "result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "popadm_pop3_commands_total",
			Help: "POP3 commands dispatched, by command.",
		}, []string{"cmd"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "popadm_pop3_retr_bytes_total",
			Help: "Octets sent in POP3 multi-line response bodies (RETR, TOP, LIST, UIDL, CAPA).",
		}),
		inUse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "popadm_pop3_in_use_total",
			Help: "Logins refused with [IN-USE] because another session held the maildrop.",
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "popadm_password_changes_total",
			Help: "Password changes by channel and result.",
		}, []string{"via", "result"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "popadm_limiter_blocked_total",
			Help: "Attempts refused before any credential check because the client address failed too often.",
		}, []string{"proto"}),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "popadm_db_errors_total",
			Help: "Account store failures seen by the daemons (answered with a temporary error).",
		}),
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "popadm_build_info",
		Help: "Build information; the value is always 1.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.logins, m.authSecs, m.commands, m.bytes, m.inUse, m.changes, m.throttled, m.dbErrors, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Sessions registers a gauge of open connections for proto, read from f at
// every scrape (e.g. a server's Conns method).
func (m *Metrics) Sessions(proto string, f func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "popadm_sessions",
		Help:        "Open connections by protocol.",
		ConstLabels: prometheus.Labels{"proto": proto},
	}, func() float64 { return float64(f()) }))
}

// Login implements backend.Metrics.
func (m *Metrics) Login(proto, mech, result string, d time.Duration) {
	switch {
	case proto == "poppassd" && mech == "NEWPASS":
		m.changes.WithLabelValues("poppassd", result).Inc()
		return
	case result == "temporary-failure" || result == "error":
		m.dbErrors.Inc()
	}
	m.logins.WithLabelValues(proto, strings.ToUpper(mech), result).Inc()
	m.authSecs.WithLabelValues(proto, result).Observe(d.Seconds())
}

// Throttled implements backend.Metrics.
func (m *Metrics) Throttled(proto string) { m.throttled.WithLabelValues(proto).Inc() }

// InUse implements backend.Metrics.
func (m *Metrics) InUse() { m.inUse.Inc() }

// Command implements pop3d.Observer.
func (m *Metrics) Command(name string) { m.commands.WithLabelValues(name).Inc() }

// Sent implements pop3d.Observer.
func (m *Metrics) Sent(n int64) { m.bytes.Add(float64(n)) }

// Handler returns the /metrics HTTP handler.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Serve serves /metrics on ln until ctx is done.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
