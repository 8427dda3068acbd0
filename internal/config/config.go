// Package config reads the TOML configuration file of `popadm serve`.
//
// One table of settings (Settings) describes every key: its section, the
// serve flag that overrides it, its environment variable, its help text
// and its default. The same table drives the command-line flags, the
// annotated example file (Example) and the decoding, so the three cannot
// drift apart.
//
// Precedence, lowest first: the defaults, the file, the environment
// (POPADM_DB, POPADM_DEFAULT_DOMAIN, POPADM_CONTROL), explicit
// command-line flags.
package config

import "time"

// DefaultPath is the configuration file read when neither --config nor
// POPADM_CONFIG names one, and only if it exists.
const DefaultPath = "/etc/popadm/popadm.toml"

// Config is every setting of `popadm serve`, grouped like the sections of
// the file.
type Config struct {
	DB            string // account database path
	DefaultDomain string // domain appended to login names without one
	Hostname      string // greeting and challenge host name ("" = system)
	User          string // account to switch to after binding, as root
	Group         string // group to switch to with User

	POP3      POP3
	Poppassd  Poppassd
	TLS       TLS
	Mail      Mail
	Auth      Auth
	Limits    Limits
	Log       Log
	Metrics   Metrics
	Control   Control
	Socketmap Socketmap
}

// POP3 is the [pop3] section.
type POP3 struct {
	Listen            []string
	ListenTLS         []string
	AllowInsecureAuth bool
	APOP              bool
	SASL              []string
	Expire            string
	LoginDelay        int
	IdleTimeout       time.Duration
}

// Poppassd is the [poppassd] section.
type Poppassd struct {
	Listen      []string
	ListenTLS   []string
	AllowRemote bool
	IdleTimeout time.Duration
}

// TLS is the [tls] section.
type TLS struct {
	Cert string
	Key  string
}

// Mail is the [mail] section.
type Mail struct {
	Location       string
	SystemLocation string
	JournalDir     string
}

// Auth is the [auth] section.
type Auth struct {
	Backends         string
	Scheme           string
	VerifyCacheTTL   time.Duration
	MaxVerify        int
	PAMService       string
	PAMPasswdService string
	PAMMinUID        int
}

// Limits is the [limits] section.
type Limits struct {
	MaxConns        int
	MaxConnsPerIP   int
	FailureDelay    time.Duration
	MaxFailureDelay time.Duration
	IPFailLimit     int
}

// Log is the [log] section.
type Log struct {
	Format    string
	Level     string
	Trace     string
	TraceAuth bool
}

// Metrics is the [metrics] section.
type Metrics struct {
	Listen string
}

// Control is the [control] section.
type Control struct {
	Socket string // "" = the default path; "none" disables
}

// Socketmap is the [socketmap] section.
type Socketmap struct {
	Listen string // unix:/path or inet:HOST:PORT; "none" disables
}

// Defaults returns the built-in value of every setting.
func Defaults() Config {
	return Config{
		DB: "/var/lib/popadm/auth.db",
		POP3: POP3{
			Listen:      []string{":110"},
			ListenTLS:   []string{":995"},
			SASL:        []string{},
			IdleTimeout: 10 * time.Minute,
		},
		Poppassd: Poppassd{
			Listen:      []string{"127.0.0.1:106"},
			ListenTLS:   []string{},
			IdleTimeout: 60 * time.Second,
		},
		Mail: Mail{
			Location:       "maildir:/var/vmail/%d/%n",
			SystemLocation: "mbox:/var/mail/%u",
			JournalDir:     "/var/lib/popadm/journal",
		},
		Auth: Auth{
			Backends:         "sqlite",
			VerifyCacheTTL:   10 * time.Minute,
			PAMService:       "popadm-pop3",
			PAMPasswdService: "popadm-passwd",
			PAMMinUID:        1000,
		},
		Limits: Limits{
			MaxConns:        1000,
			MaxConnsPerIP:   20,
			FailureDelay:    2 * time.Second,
			MaxFailureDelay: 15 * time.Second,
			IPFailLimit:     20,
		},
		Log:       Log{Format: "text", Level: "info"},
		Metrics:   Metrics{Listen: "127.0.0.1:9110"},
		Socketmap: Socketmap{Listen: "none"},
	}
}
