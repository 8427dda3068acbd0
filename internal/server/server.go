// Package server runs the configured listeners of `popadm serve`: POP3 with
// STLS, POP3 over implicit TLS, and poppassd, over one account store. It
// owns the process-level wiring: opening the database, the shared
// failed-login limiter, certificate reloading on SIGHUP and graceful
// shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/authdb/pamauth"
	"github.com/popadm/popadm/internal/backend"
	"github.com/popadm/popadm/internal/lineserver"
	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/mbox"
	"github.com/popadm/popadm/internal/metrics"
	"github.com/popadm/popadm/internal/socketmap"
	"github.com/popadm/popadm/internal/throttle"
	"github.com/popadm/popadm/internal/tlsutil"
	"github.com/popadm/popadm/pop3d"
	"github.com/popadm/popadm/poppassd"
)

// Config is everything `popadm serve` takes. Zero values get the defaults
// documented on each field.
type Config struct {
	DBPath        string
	DefaultDomain string
	Hostname      string // greeting and challenges; default os.Hostname

	// POP3 enables the POP3 service (plain+STLS and implicit TLS listeners).
	POP3 bool
	// Poppassd enables the password-change service.
	Poppassd bool

	POP3Listen        []string // default [":110"]
	POP3SListen       []string // default [":995"] when a certificate is set
	PoppassdListen    []string // default ["127.0.0.1:106"]
	PoppassdTLSListen []string // default none
	// PoppassdAllowRemote must be set to listen for poppassd on anything but
	// a loopback address: the protocol carries passwords in clear text.
	PoppassdAllowRemote bool

	TLSCert, TLSKey string // PEM files; reloaded on SIGHUP

	AllowInsecureAuth bool     // plaintext logins on cleartext non-loopback connections
	APOP              bool     // offer APOP (timestamp in the greeting)
	SASL              []string // extra SASL mechanisms: CRAM-MD5, SCRAM-SHA-256, SCRAM-SHA-1
	Expire            string   // CAPA EXPIRE value ("" omits)
	LoginDelay        int      // CAPA LOGIN-DELAY seconds (0 omits)

	MailLocation string // default "maildir:/var/vmail/%d/%n"
	// SystemMailLocation serves accounts from PAM: default "mbox:/var/mail/%u".
	SystemMailLocation string
	// JournalDir holds mbox UPDATE journals and spool session locks:
	// default /var/lib/popadm/journal. Outside the spool directory.
	JournalDir string

	// Auth is the account backend chain: "sqlite" (default), "pam", or
	// "sqlite,pam" (the SQLite store first, then system accounts).
	Auth string
	// PAMService and PAMPasswdService name the PAM services for logins and
	// password changes (default popadm-pop3, popadm-passwd).
	PAMService, PAMPasswdService string
	// PAMMinUID refuses system accounts below this UID like a wrong
	// password (default 1000).
	PAMMinUID int

	IdleTimeout         time.Duration // POP3 autologout, default 10m
	PoppassdIdleTimeout time.Duration // default 60s
	MaxConns            int           // per service, default 1000
	MaxConnsPerIP       int           // per service, default 20

	FailureDelay    time.Duration // default 2s POP3, 3s poppassd
	MaxFailureDelay time.Duration // default 15s
	IPFailLimit     int           // failures per address before refusal, default 20

	Scheme         string        // password scheme for new credential sets
	VerifyCacheTTL time.Duration // default 10m; negative disables
	MaxVerify      int           // concurrent slow hash verifications, default 2×CPUs

	Trace     io.Writer // protocol trace (redacted)
	TraceAuth bool      // include secrets in the trace

	Logger *slog.Logger

	// MetricsListen is the address of the Prometheus /metrics endpoint:
	// default "127.0.0.1:9110"; "none" disables it.
	MetricsListen string
	// SocketmapListen serves Postfix's socketmap recipient maps (domain,
	// mailbox) over the SQLite store: "unix:/run/popadm/socketmap.sock",
	// "inet:127.0.0.1:PORT", or "none"/"" (default) for off.
	SocketmapListen string

	// User, if set, is the account the server switches to once every
	// socket (and the metrics endpoint) is bound, when started as root;
	// the database, the certificate and the mail store are then opened as
	// that user. Group overrides the user's primary group. Not with PAM
	// accounts, which need root.
	User, Group string

	// ControlSocket is the path of the control socket (popadm who, kick,
	// reload): default /run/popadm/control.sock, where a failure only
	// disables it with a warning; "none" disables it.
	ControlSocket string

	// metrics is set by Run.
	metrics *metrics.Metrics

	// Ready, if set, is called with the bound addresses once every listener
	// is up (tests and `make run`).
	Ready func(addrs map[string][]net.Addr)
}

// Run serves until ctx is cancelled or SIGTERM/SIGINT arrives, then shuts
// down gracefully: listeners close, sessions end without UPDATE. SIGHUP
// reloads the certificate.
func Run(ctx context.Context, cfg Config) error {
	applyDefaults(&cfg)
	log := cfg.Logger
	drop, err := planDrop(&cfg)
	if err != nil {
		return err
	}
	var metricsLn net.Listener
	if cfg.MetricsListen != "none" {
		metricsLn, err = net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("server: metrics listen %s: %w (set metrics-listen none to disable)", cfg.MetricsListen, err)
		}
		defer metricsLn.Close()
		cfg.metrics = metrics.New(Version)
	}
	bound, err := bindListeners(&cfg)
	if err != nil {
		return err
	}
	defer bound.close()
	var smLn net.Listener // before any privilege drop, like the others
	if sm := cfg.SocketmapListen; sm != "" && sm != "none" {
		if smLn, err = socketmap.Listen(sm); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		defer smLn.Close()
	}
	ctlLn, err := listenControl(&cfg, drop)
	if err != nil {
		return err
	}
	if ctlLn != nil {
		defer ctlLn.Close()
	}
	if drop != nil {
		if err := drop.apply(log); err != nil {
			return err
		}
	}
	st, err := setup(ctx, &cfg)
	if err != nil {
		return err
	}
	defer st.close()
	tlsConf, reloader := st.tlsConf, st.reloader

	type service struct {
		name  string
		serve func(net.Listener) error
		close func(context.Context) error
		lns   []net.Listener
		src   sessionSource // for the control socket
	}
	var services []*service
	addrs := map[string][]net.Addr{}
	// listen hands the service the sockets bindListeners made for it.
	listen := func(s *service, proto string) {
		for _, ln := range bound[proto] {
			s.lns = append(s.lns, ln)
			addrs[proto] = append(addrs[proto], ln.Addr())
		}
	}

	if cfg.POP3 {
		popOpts := pop3Options(&cfg, st)
		if cfg.metrics != nil {
			popOpts.Observer = cfg.metrics
		}
		plain := pop3d.New(popOpts)
		if cfg.metrics != nil {
			cfg.metrics.Sessions("pop3", plain.Conns)
		}
		s := &service{name: "pop3", serve: plain.Serve, close: plain.Shutdown, src: plain}
		services = append(services, s)
		listen(s, svcPOP3)
		if tlsConf != nil && len(bound[svcPOP3S]) > 0 {
			implicit := pop3d.New(popOpts)
			if cfg.metrics != nil {
				cfg.metrics.Sessions("pop3s", implicit.Conns)
			}
			s := &service{name: "pop3s", serve: implicit.ServeTLS, close: implicit.Shutdown, src: implicit}
			services = append(services, s)
			listen(s, svcPOP3S)
		}
	}
	if cfg.Poppassd {
		ppOpts := poppassdOptions(&cfg, st)
		pp := poppassd.New(ppOpts)
		if cfg.metrics != nil {
			cfg.metrics.Sessions("poppassd", pp.Conns)
		}
		s := &service{name: "poppassd", serve: pp.Serve, close: pp.Shutdown, src: pp}
		services = append(services, s)
		listen(s, svcPoppassd)
		if tlsConf != nil && len(bound[svcPoppassdTLS]) > 0 {
			ppt := poppassd.New(ppOpts)
			s := &service{name: "poppassd-tls", serve: ppt.ServeTLS, close: ppt.Shutdown, src: ppt}
			services = append(services, s)
			listen(s, svcPoppassdTLS)
		}
	}
	if smLn != nil {
		if st.db == nil {
			return errors.New("server: socketmap needs the sqlite account backend")
		}
		smap, err := socketmap.New(socketmap.Options{Store: st.db, MailLocation: cfg.MailLocation, Logger: log})
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		services = append(services, &service{name: "socketmap", serve: smap.Serve, close: smap.Shutdown, lns: []net.Listener{smLn}})
		addrs["socketmap"] = append(addrs["socketmap"], smLn.Addr())
		log.Info("socketmap maps ready", "virtual_mailbox_base", smap.Base())
	}
	if len(services) == 0 {
		return errors.New("server: no service enabled")
	}

	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for _, s := range services {
		for _, ln := range s.lns {
			log.Info("listening", "service", s.name, "addr", ln.Addr().String())
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.serve(ln); err != nil && !errors.Is(err, net.ErrClosed) &&
					!errors.Is(err, pop3d.ErrServerClosed) && !errors.Is(err, poppassd.ErrServerClosed) {
					errc <- fmt.Errorf("server: %s on %s: %w", s.name, ln.Addr(), err)
				}
			}()
		}
	}
	mctx, mcancel := context.WithCancel(context.Background())
	defer mcancel()
	if metricsLn != nil {
		addrs["metrics"] = append(addrs["metrics"], metricsLn.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cfg.metrics.Serve(mctx, metricsLn, log); err != nil {
				log.Error("metrics endpoint", "err", err)
			}
		}()
		log.Info("listening", "service", "metrics", "addr", metricsLn.Addr().String())
	}
	if ctlLn != nil {
		h := &controlHandler{reload: func() (string, error) {
			return reloadCert(log, reloader, cfg.TLSCert, "control")
		}}
		for _, s := range services {
			if s.src != nil {
				h.srcs = append(h.srcs, namedSource{name: s.name, src: s.src})
			}
		}
		addrs["control"] = append(addrs["control"], ctlLn.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveControl(mctx, ctlLn, h, log)
		}()
	}
	if cfg.Ready != nil {
		cfg.Ready(addrs)
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_, _ = reloadCert(log, reloader, cfg.TLSCert, "SIGHUP")
				continue
			}
			log.Info("shutting down", "signal", sig.String())
			break loop
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range services {
		if err := s.close(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			log.Error("shutdown", "service", s.name, "err", err)
		}
	}
	mcancel()
	wg.Wait()
	return runErr
}

// Version is the server version shown in the poppassd greeting; the CLI
// sets it from the build version.
var Version = "dev"

// metricsOrNil keeps a nil *Metrics from becoming a non-nil interface.
func metricsOrNil(m *metrics.Metrics) backend.Metrics {
	if m == nil {
		return nil
	}
	return m
}

func applyDefaults(c *Config) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
		if c.Hostname == "" {
			c.Hostname = "localhost"
		}
	}
	if c.POP3Listen == nil {
		c.POP3Listen = []string{":110"}
	}
	if c.POP3SListen == nil {
		c.POP3SListen = []string{":995"}
	}
	if c.PoppassdListen == nil {
		c.PoppassdListen = []string{"127.0.0.1:106"}
	}
	if c.MailLocation == "" {
		c.MailLocation = "maildir:/var/vmail/%d/%n"
	}
	if c.SystemMailLocation == "" {
		c.SystemMailLocation = "mbox:/var/mail/%u"
	}
	if c.MetricsListen == "" {
		c.MetricsListen = "127.0.0.1:9110"
	}
	if c.JournalDir == "" {
		c.JournalDir = "/var/lib/popadm/journal"
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.PoppassdIdleTimeout == 0 {
		c.PoppassdIdleTimeout = 60 * time.Second
	}
	if c.MaxConns == 0 {
		c.MaxConns = 1000
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 20
	}
	if c.FailureDelay == 0 {
		c.FailureDelay = 2 * time.Second
	}
	if c.MaxFailureDelay == 0 {
		c.MaxFailureDelay = 15 * time.Second
	}
	if c.VerifyCacheTTL == 0 {
		c.VerifyCacheTTL = 10 * time.Minute
	}
}

// isLoopbackListen reports whether a listen address binds only loopback.
func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// state is what every serving mode shares.
type state struct {
	db       *authdb.DB
	be       *backend.Backend
	tlsConf  *tls.Config
	reloader *tlsutil.Reloader
}

// setup opens the account store, loads the certificate and builds the glue.
func setup(ctx context.Context, cfg *Config) (*state, error) {
	log := cfg.Logger
	useDB, usePAM, err := parseAuth(cfg.Auth)
	if err != nil {
		return nil, err
	}
	st := &state{}
	chain := &backend.Chain{}
	if useDB {
		st.db, err = authdb.Open(ctx, cfg.DBPath, authdb.Options{
			DefaultDomain:      cfg.DefaultDomain,
			Scheme:             cfg.Scheme,
			Logger:             log,
			VerifyCacheTTL:     cfg.VerifyCacheTTL,
			MaxVerify:          cfg.MaxVerify,
			NoUnknownUserDelay: usePAM, // PAM then verifies unknown names and sets the timing
		})
		if err != nil {
			return nil, err
		}
		chain.DB = st.db
	}
	if usePAM {
		pa, err := pamauth.New(pamauth.Options{
			AuthService:   cfg.PAMService,
			PasswdService: cfg.PAMPasswdService,
			MinUID:        cfg.PAMMinUID,
			Logger:        log,
		})
		if err != nil {
			st.close()
			return nil, fmt.Errorf("server: auth %q: %w", cfg.Auth, err)
		}
		chain.PAM = pa
	}
	var store backend.Store = chain
	if st.db != nil && chain.PAM == nil {
		store = st.db
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		st.reloader, err = tlsutil.NewReloader(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			st.close()
			return nil, err
		}
		st.tlsConf = tlsutil.ServerConfig(st.reloader)
	}
	st.be, err = backend.New(backend.Options{
		Store:              store,
		DefaultDomain:      cfg.DefaultDomain,
		MailLocation:       cfg.MailLocation,
		SystemMailLocation: cfg.SystemMailLocation,
		Maildrop:           maildrop.Options{Logger: log, Hostname: systemHostname()},
		Mbox:               mbox.Options{JournalDir: cfg.JournalDir, Logger: log},
		Limiter: throttle.New(throttle.Options{
			BaseDelay: cfg.FailureDelay,
			MaxDelay:  cfg.MaxFailureDelay,
			IPLimit:   cfg.IPFailLimit,
		}),
		Hostname: cfg.Hostname,
		Logger:   log,
		Metrics:  metricsOrNil(cfg.metrics),
	})
	if err != nil {
		st.close()
		return nil, err
	}
	// Finish any mbox UPDATE a crash interrupted before serving anything.
	if _, serr := os.Stat(cfg.JournalDir); serr == nil {
		if rerr := mbox.RecoverAll(mbox.Options{JournalDir: cfg.JournalDir, Logger: log}); rerr != nil {
			log.Error("mbox journal recovery", "dir", cfg.JournalDir, "err", rerr)
		}
	}
	return st, nil
}

// close releases what setup opened.
func (st *state) close() {
	if st.db != nil {
		st.db.Close()
	}
}

// parseAuth reads the backend chain setting.
func parseAuth(s string) (useDB, usePAM bool, err error) {
	switch strings.ReplaceAll(strings.ToLower(s), " ", "") {
	case "", "sqlite":
		return true, false, nil
	case "pam":
		return false, true, nil
	case "sqlite,pam":
		return true, true, nil
	}
	return false, false, fmt.Errorf("server: auth %q: want sqlite, pam or sqlite,pam", s)
}

func pop3Options(cfg *Config, st *state) *pop3d.Options {
	return &pop3d.Options{
		Backend:           st.be.POP3(),
		Hostname:          cfg.Hostname,
		Implementation:    "popadm",
		TLSConfig:         st.tlsConf,
		AllowInsecureAuth: cfg.AllowInsecureAuth,
		APOP:              cfg.APOP,
		SASLMechanisms:    cfg.SASL,
		Expire:            cfg.Expire,
		LoginDelay:        cfg.LoginDelay,
		IdleTimeout:       cfg.IdleTimeout,
		MaxConns:          cfg.MaxConns,
		MaxConnsPerIP:     cfg.MaxConnsPerIP,
		Logger:            cfg.Logger,
		Debug:             cfg.Trace,
		TraceAuth:         cfg.TraceAuth,
	}
}

func poppassdOptions(cfg *Config, st *state) *poppassd.Options {
	return &poppassd.Options{
		Backend:       st.be.Passwd(),
		Version:       Version,
		TLSConfig:     st.tlsConf,
		IdleTimeout:   cfg.PoppassdIdleTimeout,
		FailureDelay:  cfg.FailureDelay,
		MaxConns:      cfg.MaxConns,
		MaxConnsPerIP: cfg.MaxConnsPerIP,
		Logger:        cfg.Logger,
		Debug:         cfg.Trace,
		TraceAuth:     cfg.TraceAuth,
	}
}

// RunInetd serves one session of the single enabled service on in/out (the
// inetd "nowait" model: the super-server accepted the connection). Logs go
// to cfg.Logger, which must not write to out.
func RunInetd(ctx context.Context, cfg Config, in, out *os.File) error {
	applyDefaults(&cfg)
	if cfg.POP3 == cfg.Poppassd {
		return errors.New("server: inetd mode serves exactly one service")
	}
	drop, err := planDrop(&cfg)
	if err != nil {
		return err
	}
	if drop != nil {
		if err := drop.apply(cfg.Logger); err != nil {
			return err
		}
	}
	st, err := setup(ctx, &cfg)
	if err != nil {
		return err
	}
	defer st.close()
	conn := lineserver.StdioConn(in, out)
	if cfg.POP3 {
		pop3d.New(pop3Options(&cfg, st)).ServeConn(ctx, conn)
	} else {
		poppassd.New(poppassdOptions(&cfg, st)).ServeConn(ctx, conn)
	}
	return nil
}

// systemHostname is the host name written into maildrop session locks,
// looked up once rather than at every login.
func systemHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
