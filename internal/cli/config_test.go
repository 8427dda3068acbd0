package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/popadm/popadm/internal/config"
)

// writeConfig writes text to name in the environment's directory.
func (e *testEnv) writeConfig(name, text string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// TestServeFlagsMatchConfigKeys: every visible serve flag has a
// configuration key and every key has a serve flag.
func TestServeFlagsMatchConfigKeys(t *testing.T) {
	f := newFactory(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	root := newRootCmd(f)
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	// Flags that are not settings: the file itself and the run mode.
	notSettings := map[string]bool{"config": true, "inetd": true, "help": true}
	byFlag := map[string]string{}
	for _, s := range config.Settings() {
		byFlag[s.Flag] = s.Key
	}
	var flags []string
	check := func(fl *pflag.Flag) {
		if fl.Hidden || notSettings[fl.Name] {
			return
		}
		flags = append(flags, fl.Name)
		if _, ok := byFlag[fl.Name]; !ok {
			t.Errorf("serve flag --%s has no configuration key", fl.Name)
		}
	}
	serve.LocalFlags().VisitAll(check)
	if fl := root.PersistentFlags().Lookup("db"); fl == nil {
		t.Fatal("no --db flag")
	} else {
		check(fl)
	}
	for _, s := range config.Settings() {
		fl := serve.Flags().Lookup(s.Flag)
		if fl == nil {
			fl = root.PersistentFlags().Lookup(s.Flag)
		}
		if fl == nil {
			t.Errorf("config key %s has no serve flag --%s", s.Key, s.Flag)
			continue
		}
		if s.Flag != "db" && !strings.HasPrefix(fl.Usage, s.Help) {
			t.Errorf("--%s help %q does not come from the settings table", s.Flag, fl.Usage)
		}
	}
	sort.Strings(flags)
	if len(flags) != len(config.Settings()) {
		t.Errorf("%d serve flags %v for %d settings", len(flags), flags, len(config.Settings()))
	}
	if got := config.Defaults().DB; got != DefaultDBPath {
		t.Errorf("config default db %q, --db default %q", got, DefaultDBPath)
	}
}

// TestConfigExample: the printed example parses back to the defaults.
func TestConfigExample(t *testing.T) {
	e := newEmptyEnv(t)
	r := e.mustRun("", "config", "example")
	f, err := config.Parse("example", []byte(r.out))
	if err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
	if !reflect.DeepEqual(f.Config, config.Defaults()) {
		t.Fatalf("example is not the defaults: %+v", f.Config)
	}
	p := e.writeConfig("example.toml", r.out)
	if r := e.mustRun("", "config", "check", "--config", p); r.out != "ok\n" {
		t.Fatalf("check of the example: %q", r.out)
	}
}

// TestConfigCheck reports every problem with file, line and key, exit 78.
func TestConfigCheck(t *testing.T) {
	e := newEmptyEnv(t)
	bad := e.writeConfig("bad.toml", "db = \"/x.db\"\n[pop3]\nidle_timeout = \"1m\"\nfrobnicate = true\n")
	r := e.expect(ExitConfig, "", "config", "check", "--config", bad)
	want := "popadm: " + bad + ":4: pop3.frobnicate: unknown key\n"
	if r.err != want {
		t.Fatalf("stderr %q, want %q", r.err, want)
	}
	// Without unknown keys, the value checks run.
	bad2 := e.writeConfig("bad2.toml", "[pop3]\nidle_timeout = \"1m\"\n[poppassd]\nlisten = [\"0.0.0.0:106\"]\n")
	r = e.expect(ExitConfig, "", "config", "check", "--config", bad2)
	for _, w := range []string{bad2 + ":2: pop3.idle_timeout: 1m is below", bad2 + ":4: poppassd.listen: address \"0.0.0.0:106\" is not loopback"} {
		if !strings.Contains(r.err, "popadm: "+w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.err)
		}
	}
	m := errorJSON(t, e.expect(ExitConfig, "", "config", "check", "--config", bad2, "--json"))
	if errs, _ := m["errors"].([]any); len(errs) != 2 || m["file"] != bad2 {
		t.Fatalf("JSON error: %v", m)
	}
	// POPADM_CONFIG names the file when --config is not given.
	e.env["POPADM_CONFIG"] = bad
	e.expect(ExitConfig, "", "config", "check")
	delete(e.env, "POPADM_CONFIG")
	r = e.expect(ExitConfig, "", "config", "check", "--config", filepath.Join(e.dir, "missing.toml"))
	if !strings.Contains(r.err, "missing.toml") {
		t.Fatalf("missing file: %s", r)
	}
}

// resolveServeArgs parses serve's flags from args and returns the merged
// settings, without starting anything.
func resolveServeArgs(t *testing.T, env map[string]string, args ...string) (config.Config, error) {
	t.Helper()
	f := newFactory(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	f.getenv = func(k string) string { return env[k] }
	root := newRootCmd(f)
	old, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	root.RemoveCommand(old)
	sf := &serveFlags{}
	serve := serveCommand(f, sf)
	root.AddCommand(serve)
	if err := serve.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := f.resolveGlobals(serve); err != nil {
		t.Fatal(err)
	}
	return f.resolveServe(serve, sf)
}

// TestServePrecedence: defaults < file < environment < explicit flags.
func TestServePrecedence(t *testing.T) {
	e := newEmptyEnv(t)
	p := e.writeConfig("p.toml", `db = "/file.db"
default_domain = "file.example"
[limits]
max_conns = 7
max_conns_per_ip = 3
[pop3]
listen = ["127.0.0.1:1110"]
`)
	cfg, err := resolveServeArgs(t, nil, "--config", p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "/file.db" || cfg.Limits.MaxConns != 7 || cfg.DefaultDomain != "file.example" ||
		cfg.POP3.Listen[0] != "127.0.0.1:1110" || cfg.Limits.FailureDelay != 2*time.Second {
		t.Fatalf("file values: %+v", cfg)
	}
	env := map[string]string{"POPADM_DB": "/env.db", "POPADM_DEFAULT_DOMAIN": "env.example", "POPADM_CONFIG": p}
	cfg, err = resolveServeArgs(t, env, "--max-conns", "9", "--pop3-listen", "127.0.0.1:2110,127.0.0.1:3110")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "/env.db" || cfg.DefaultDomain != "env.example" {
		t.Fatalf("environment does not override the file: %+v", cfg)
	}
	if cfg.Limits.MaxConns != 9 || cfg.Limits.MaxConnsPerIP != 3 || len(cfg.POP3.Listen) != 2 {
		t.Fatalf("flags do not override the file: %+v", cfg.Limits)
	}
	cfg, err = resolveServeArgs(t, env, "--db", "/flag.db", "--default-domain", "flag.example")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "/flag.db" || cfg.DefaultDomain != "flag.example" {
		t.Fatalf("flags do not override the environment: %+v", cfg)
	}
	// A flag can repair a bad file value, and a bad flag is a usage error
	// naming the flag.
	bad := e.writeConfig("short.toml", "[pop3]\nidle_timeout = \"1m\"\n")
	if _, err := resolveServeArgs(t, nil, "--config", bad, "--idle-timeout", "20m"); err != nil {
		t.Fatalf("flag over a bad file value: %v", err)
	}
	_, err = resolveServeArgs(t, nil, "--idle-timeout", "1m")
	if exitCodeFor(err) != ExitUsage || !strings.Contains(err.Error(), "--idle-timeout: 1m is below") {
		t.Fatalf("bad flag: %d %v", exitCodeFor(err), err)
	}
	if _, err := resolveServeArgs(t, nil, "--idle-timeout", "1s", "--allow-short-idle-timeout"); err != nil {
		t.Fatalf("--allow-short-idle-timeout: %v", err)
	}
}

// TestServeRefusesBadConfig: serve exits 78 naming the key and line and
// starts nothing.
func TestServeRefusesBadConfig(t *testing.T) {
	e := newEmptyEnv(t)
	bad := e.writeConfig("bad.toml", "[pop3]\nlisten = [\"127.0.0.1:0\"]\n\n[poppassd]\nlisten = [\"0.0.0.0:0\"]\n")
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Main(ctx, []string{"--db", e.db, "serve", "--config", bad}, strings.NewReader(""), &out, &errb)
	if code != ExitConfig {
		t.Fatalf("exit %d, want %d\n%s", code, ExitConfig, errb.String())
	}
	want := "popadm: " + bad + ":5: poppassd.listen: address \"0.0.0.0:0\" is not loopback"
	if !strings.HasPrefix(errb.String(), want) {
		t.Fatalf("stderr %q, want prefix %q", errb.String(), want)
	}
	if _, err := os.Stat(e.db); !os.IsNotExist(err) {
		t.Fatalf("database touched: %v", err)
	}
	unknown := e.writeConfig("unknown.toml", "[limits]\nmax_conns = 5\nmax_con = 4\n")
	r := e.expect(ExitConfig, "", "serve", "--config", unknown)
	if !strings.Contains(r.err, unknown+":3: limits.max_con: unknown key") {
		t.Fatalf("stderr: %s", r)
	}
}

// TestServeFromConfigFile starts serve from a configuration file alone
// and reads the POP3 greeting.
func TestServeFromConfigFile(t *testing.T) {
	e := newEnv(t)
	ready := filepath.Join(e.dir, "ready.json")
	p := e.writeConfig("serve.toml", `db = "`+e.db+`"
hostname = "cfg.example"
[pop3]
listen = ["127.0.0.1:0"]
listen_tls = []
[poppassd]
listen = ["127.0.0.1:0"]
[mail]
location = "maildir:`+e.dir+`/mail/%d/%n"
journal_dir = "`+e.dir+`/journal"
[log]
level = "warn"
[metrics]
listen = "none"
`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--config", p, "--ready-file", ready}, strings.NewReader(""), &out, &errb)
	}()
	var addrs map[string][]string
	deadline := time.Now().Add(20 * time.Second)
	for addrs == nil {
		if b, err := os.ReadFile(ready); err == nil && json.Unmarshal(b, &addrs) == nil {
			break
		}
		addrs = nil
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not become ready")
		}
	}
	if len(addrs["pop3"]) != 1 || len(addrs["poppassd"]) != 1 || len(addrs["pop3s"]) != 0 {
		t.Fatalf("listeners: %v", addrs)
	}
	conn, err := net.DialTimeout("tcp", addrs["pop3"][0], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("greeting %q: %v", line, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d: %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
