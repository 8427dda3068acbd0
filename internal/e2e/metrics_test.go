package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetrics scrapes /metrics after real sessions and checks that the
// series move: logins by result, commands, bytes, [IN-USE], sessions and
// password changes.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.addUser("kim@example.com", "Kim-pass 1", "--scheme", "SHA512-CRYPT")
	e.deliver("kim", sampleMessages...)
	e.start()

	a := dialPOP3(t, e.addr("pop3"))
	a.login("kim@example.com", "Kim-pass 1")
	a.Cmd("STAT")
	b := dialPOP3(t, e.addr("pop3"))
	b.Cmd("USER kim@example.com")
	b.Cmd("PASS Kim-pass 1") // [IN-USE]
	c := dialPOP3(t, e.addr("pop3"))
	c.Cmd("USER kim@example.com")
	c.Cmd("PASS wrong")
	passwdSession(t, e.addr("poppassd"), "user kim@example.com", "pass Kim-pass 1", "newpass Kim-pass 2")

	get := func() string {
		resp, err := http.Get("http://" + e.addr("metrics") + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	value := func(body, series string) float64 {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
		m := re.FindStringSubmatch(body)
		if m == nil {
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		body = get()
		if value(body, `popadm_logins_total{mech="USER",proto="pop3",result="bad-password"}`) >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for series, min := range map[string]float64{
		`popadm_logins_total{mech="USER",proto="pop3",result="ok"}`:                                   1,
		`popadm_logins_total{mech="USER",proto="pop3",result="bad-password"}`:                         1,
		`popadm_pop3_in_use_total`:                                                                    1,
		`popadm_pop3_commands_total{cmd="STAT"}`:                                                      1,
		`popadm_password_changes_total{result="changed",via="poppassd"}`:                              1,
		`popadm_sessions{proto="pop3"}`:                                                               1,
		`popadm_build_info{goversion="` + goVersion(body) + `",version="` + buildVersion(body) + `"}`: 1,
	} {
		if v := value(body, series); v < min {
			t.Errorf("%s = %v, want >= %v", series, v, min)
		}
	}
	if !strings.Contains(body, "popadm_auth_seconds_bucket") {
		t.Error("no auth latency histogram")
	}
	if strings.Contains(body, "Kim-pass") {
		t.Fatal("a password appears in the metrics")
	}
	a.Cmd("QUIT")
}

func goVersion(body string) string {
	m := regexp.MustCompile(`popadm_build_info\{goversion="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func buildVersion(body string) string {
	m := regexp.MustCompile(`popadm_build_info\{[^}]*version="([^"]*)"\}`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}
